//! A small XML writer for Query API replies: elements in order, text escaped.

use std::fmt::Display;

use chrono::{DateTime, Utc};

/// The namespace every ElastiCache reply carries.
pub const NAMESPACE: &str = "http://elasticache.amazonaws.com/doc/2015-02-02/";

/// Builds an XML document as a string.
#[derive(Default)]
pub struct Xml {
    buf: String,
}

impl Xml {
    /// Starts an element.
    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// Ends an element.
    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// An element with escaped text.
    pub fn leaf(&mut self, tag: &str, value: impl Display) -> &mut Self {
        self.open(tag);
        let text = xml_chars(&value.to_string());
        self.buf.push_str(&quick_xml::escape::escape(text.as_str()));
        self.close(tag)
    }

    /// An element only when there is a value.
    pub fn opt<T: Display>(&mut self, tag: &str, value: Option<T>) -> &mut Self {
        if let Some(v) = value {
            self.leaf(tag, v);
        }
        self
    }

    /// A timestamp in the ISO 8601 form the SDKs parse.
    pub fn time(&mut self, tag: &str, t: &DateTime<Utc>) -> &mut Self {
        self.leaf(tag, t.format("%Y-%m-%dT%H:%M:%S%.3fZ"))
    }

    /// A list of strings, each in its own `member` element.
    pub fn list(&mut self, tag: &str, member: &str, items: &[impl AsRef<str>]) -> &mut Self {
        self.open(tag);
        for i in items {
            self.leaf(member, i.as_ref());
        }
        self.close(tag)
    }

    /// The finished text.
    pub fn finish(self) -> String {
        self.buf
    }
}

/// The text with every character XML 1.0 cannot carry, even escaped (control
/// characters such as NUL, which a request may echo into an error message), replaced
/// by U+FFFD, so every reply stays a document the SDKs can parse.
fn xml_chars(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            _ => c,
        })
        .collect()
}

/// Wraps a result body in `<{Action}Response>` with the request id.
pub fn response(action: &str, result: &str, request_id: &str) -> String {
    format!(
        "<{action}Response xmlns=\"{NAMESPACE}\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    )
}

/// The Query API error document.
pub fn error(kind: &str, code: &str, message: &str, request_id: &str) -> String {
    let mut x = Xml::default();
    x.open("Error")
        .leaf("Type", kind)
        .leaf("Code", code)
        .leaf("Message", message)
        .close("Error");
    format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\">{}<RequestId>{request_id}</RequestId></ErrorResponse>",
        x.finish()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text() {
        let mut x = Xml::default();
        x.leaf("Message", "a<b & \"c\"");
        assert_eq!(x.finish(), "<Message>a&lt;b &amp; &quot;c&quot;</Message>");
    }

    #[test]
    fn characters_xml_cannot_carry_are_replaced() {
        let mut x = Xml::default();
        x.leaf("Message", "a\u{0}b\u{1b}c\td\u{ffff}");
        assert_eq!(
            x.finish(),
            "<Message>a\u{fffd}b\u{fffd}c\td\u{fffd}</Message>"
        );
    }

    #[test]
    fn error_document_shape() {
        let e = error(
            "Sender",
            "CacheClusterNotFound",
            "CacheCluster not found: x",
            "r1",
        );
        assert!(e.starts_with("<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\"><Error><Type>Sender</Type><Code>CacheClusterNotFound</Code>"));
        assert!(e.ends_with("<RequestId>r1</RequestId></ErrorResponse>"));
    }
}
