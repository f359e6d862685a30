//! The daemon's open-file limit. Every endpoint client holds two descriptors (its own
//! socket and a node connection) and the endpoints' default total cap is derived
//! from the soft limit, so a soft limit of 1024, common on Linux, would cap all
//! endpoints at a few hundred clients. The soft limit is raised to the hard one
//! before anything reads it; lowering the hard limit stays the operator's choice.

/// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft limit.
pub fn raise_to_hard() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Some(limit.rlim_cur);
        }
        limit = raised;
    }
    Some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    fn limits() -> libc::rlimit {
        let mut now = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct we pass.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) }, 0);
        now
    }

    #[test]
    fn a_low_soft_limit_is_raised_to_the_hard_limit() {
        let hard = limits().rlim_max;
        let low = libc::rlimit {
            rlim_cur: hard.min(256),
            rlim_max: hard,
        };
        // SAFETY: setrlimit only reads the struct we pass; lowering is always allowed.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
        assert_eq!(super::raise_to_hard(), Some(hard));
        assert_eq!(limits().rlim_cur, hard);
    }
}
