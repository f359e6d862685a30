//! Parsing of the `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
//! Signature=…` header.

use larder_model::Fault;

/// The parts of an Authorization header.
pub struct Authorization<'a> {
    /// Access key id from the credential.
    pub access_key_id: &'a str,
    /// `YYYYMMDD` of the credential scope.
    pub date: &'a str,
    /// Region of the credential scope.
    pub region: &'a str,
    /// Service of the credential scope.
    pub service: &'a str,
    /// Signed header names, in the client's order.
    pub signed_headers: Vec<&'a str>,
    /// Hex signature.
    pub signature: &'a str,
}

fn incomplete(what: &str) -> Fault {
    Fault::IncompleteSignature(format!(
        "Authorization header requires '{what}' parameter. Authorization=AWS4-HMAC-SHA256"
    ))
}

/// Splits the header into its parts; a header of another scheme or with parts missing
/// is an incomplete signature, as AWS answers it.
pub fn parse(value: &str) -> Result<Authorization<'_>, Fault> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        Fault::IncompleteSignature(
            "Authorization header must use the AWS4-HMAC-SHA256 algorithm.".into(),
        )
    })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let credential = credential.ok_or_else(|| incomplete("Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| incomplete("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| incomplete("Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(Fault::IncompleteSignature(format!(
            "Credential must have the form <key>/<date>/<region>/<service>/aws4_request, not {credential}."
        )));
    };
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed_headers.split(';').collect(),
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_parts() {
        let a = parse("AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/elasticache/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab").unwrap();
        assert_eq!(
            (a.access_key_id, a.date, a.region, a.service),
            ("k", "20260101", "us-east-1", "elasticache")
        );
        assert_eq!(a.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(a.signature, "ab");
    }

    #[test]
    fn missing_parts_are_an_incomplete_signature() {
        for bad in [
            "Basic abc",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/elasticache/aws4_request, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/aws4_request, SignedHeaders=host, Signature=ab",
        ] {
            assert!(
                matches!(parse(bad), Err(Fault::IncompleteSignature(_))),
                "{bad}"
            );
        }
    }
}
