//! Parameters an operation's table does not list. The service ignores parameters it
//! does not model too, so they are not refused; but a client sending one usually
//! expects something from it, so each (Action, parameter) is logged once per daemon.

use std::collections::HashSet;
use std::sync::Mutex;

use super::Param;
use crate::params::Params;

/// (Action, top-level parameter name) pairs already logged.
static SEEN: Mutex<Option<HashSet<(String, String)>>> = Mutex::new(None);

/// The top-level name of a wire parameter: `Tags` for `Tags.Tag.1.Key`.
fn top_level(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// Parameters of the request that no entry of `known` describes, top-level names
/// only, in order. `Action` and `Version` belong to every request.
pub fn unknown_names<'a>(params: &'a Params, known: &[Param]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for name in params.names().map(top_level) {
        let listed = known.iter().any(|p| p.name == name);
        if !listed && name != "Action" && name != "Version" && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Logs each parameter the operation does not know, the first time it is seen.
pub fn log_once(action: &str, params: &Params, known: &[Param]) {
    let names = unknown_names(params, known);
    if names.is_empty() {
        return;
    }
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let seen = seen.get_or_insert_with(HashSet::new);
    for name in names {
        if seen.insert((action.to_string(), name.to_string())) {
            tracing::warn!(
                action,
                parameter = name,
                "parameter not known to Larder; ignored (logged once)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::find;

    #[test]
    fn lists_only_names_outside_the_table() {
        let op = find("CreateCacheCluster").unwrap();
        let p = Params::parse(
            b"Action=CreateCacheCluster&Version=2015-02-02&CacheClusterId=a&Tags.Tag.1.Key=k&Frobnicate=1&Frobnicate.x=2&Zeta=3",
        );
        assert_eq!(unknown_names(&p, op.params), ["Frobnicate", "Zeta"]);
    }
}
