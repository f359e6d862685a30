//! What a failover does next, decided only from its persisted step and the members'
//! real roles (INFO replication), never from what this daemon remembers. A daemon
//! that died anywhere in a failover therefore resumes by asking the same question
//! again. Pure, so the resume rules are tested here against made-up observations.
//!
//! The order is what keeps one primary: the old primary is fenced (made a replica of
//! the chosen one, or killed) *before* the chosen one is promoted, so at no instant
//! do two members accept writes, whatever moment the daemon dies at and however
//! long it stays dead (a `CLIENT PAUSE` that expires meanwhile leaves a replica).

use larder_model::{Failover, FailoverStep};

/// A member as the controller sees it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// No process: it takes no writes.
    Gone,
    /// A process that did not answer INFO (hung, or stopped), or was not asked.
    Silent,
    /// `role:master`.
    Primary,
    /// `role:slave` of the node on this port.
    ReplicaOf(u16),
}

/// The next thing the failover does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Pick the best replica and record it with step `Fence`.
    Choose,
    /// Record this step (before doing anything it implies).
    Record(FailoverStep),
    /// Planned: pause writes on the old primary, wait until `to` has its offset, then
    /// make it a replica of `to`.
    CatchUpAndDemote,
    /// Make the old primary a replica of `to` now (it takes no writes already).
    Demote,
    /// SIGKILL the old primary.
    Kill,
    /// `REPLICAOF NO ONE` on `to`.
    Promote,
    /// One transaction: `to` is the primary, the record is gone.
    Commit,
    /// `to` cannot be used any more (its process is gone): choose again, fencing
    /// by kill from now on.
    Rechoose,
    /// Give up; only while the old primary is still the one primary.
    Abort(&'static str),
    /// Nothing can be decided now (a member did not answer); retry on the next pass.
    Wait,
}

/// Whether the old primary can take no writes: no process, or a replica of `to`.
pub(crate) fn fenced(from: Seen, to_port: u16) -> bool {
    matches!(from, Seen::Gone) || from == Seen::ReplicaOf(to_port)
}

/// The next action for failover `f`, given what `from` and `to` (on `to_port`) are now.
pub(crate) fn next(f: &Failover, from: Seen, to: Seen, to_port: u16) -> Action {
    if f.to.is_none() {
        return Action::Choose;
    }
    match f.step {
        FailoverStep::Choose => Action::Record(FailoverStep::Fence),
        FailoverStep::Fence => fence(f, from, to, to_port),
        FailoverStep::Promote => promote(f, from, to, to_port),
    }
}

fn fence(f: &Failover, from: Seen, to: Seen, to_port: u16) -> Action {
    let done = fenced(from, to_port);
    if to == Seen::Gone {
        // Still the one primary, and nothing has been changed yet: safe to give up.
        if f.planned && !done && matches!(from, Seen::Primary | Seen::Silent) {
            return Action::Abort("the chosen replica is gone");
        }
        return Action::Rechoose;
    }
    if done {
        return Action::Record(FailoverStep::Promote);
    }
    if !f.planned {
        return Action::Kill;
    }
    match (from, to) {
        // `to` already a primary can only be left by an older daemon that promoted
        // first; its offset has moved on, so there is nothing to wait for.
        (Seen::Silent, Seen::Primary) => Action::Kill,
        (Seen::Primary, Seen::Primary) => Action::Demote,
        (Seen::Silent, _) => Action::Abort("the primary did not answer"),
        (_, Seen::Silent) => Action::Wait,
        (Seen::Primary, _) => Action::CatchUpAndDemote,
        // A replica of another member takes no writes; point it at `to`.
        _ => Action::Demote,
    }
}

fn promote(f: &Failover, from: Seen, to: Seen, to_port: u16) -> Action {
    if to == Seen::Gone {
        return Action::Rechoose;
    }
    if !fenced(from, to_port) {
        // Recorded as fenced, but it is not (its process was replaced meanwhile):
        // fence again before anything is promoted.
        return match from {
            Seen::Primary | Seen::ReplicaOf(_) if f.planned => Action::Demote,
            _ => Action::Kill,
        };
    }
    match to {
        Seen::Primary => Action::Commit,
        Seen::Silent => Action::Wait,
        _ => Action::Promote,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO: u16 = 7002;
    const FROM: u16 = 7001;

    fn failover(planned: bool, step: FailoverStep) -> Failover {
        let mut f = Failover::new("g-001", Some("g-002".into()), planned, "test");
        f.step = step;
        f
    }

    #[test]
    fn a_failover_without_a_target_chooses_one() {
        let f = Failover::new("g-001", None, false, "test");
        assert_eq!(next(&f, Seen::Gone, Seen::Gone, 0), Action::Choose);
    }

    #[test]
    fn planned_fence_waits_for_catch_up_only_while_the_old_primary_leads() {
        let f = failover(true, FailoverStep::Fence);
        let first = next(&f, Seen::Primary, Seen::ReplicaOf(FROM), TO);
        assert_eq!(first, Action::CatchUpAndDemote);
        // Killed after the demotion: the old primary is a replica of `to` (a loop, so
        // nobody takes writes); the step is done.
        let resumed = next(&f, Seen::ReplicaOf(TO), Seen::ReplicaOf(FROM), TO);
        assert_eq!(resumed, Action::Record(FailoverStep::Promote));
    }

    #[test]
    fn a_pause_that_expired_while_the_daemon_was_dead_is_caught_up_again() {
        // Recorded Fence, paused, daemon dead past the pause: the old primary took
        // writes again. Those must reach `to` before the demotion.
        let f = failover(true, FailoverStep::Fence);
        assert_eq!(
            next(&f, Seen::Primary, Seen::ReplicaOf(FROM), TO),
            Action::CatchUpAndDemote
        );
    }

    #[test]
    fn unplanned_fence_kills_whatever_still_runs() {
        let f = failover(false, FailoverStep::Fence);
        for from in [Seen::Primary, Seen::Silent, Seen::ReplicaOf(9)] {
            assert_eq!(next(&f, from, Seen::ReplicaOf(FROM), TO), Action::Kill);
        }
        assert_eq!(
            next(&f, Seen::Gone, Seen::ReplicaOf(FROM), TO),
            Action::Record(FailoverStep::Promote)
        );
    }

    #[test]
    fn promotion_never_happens_while_the_old_primary_could_write() {
        for planned in [true, false] {
            let f = failover(planned, FailoverStep::Promote);
            let got = next(&f, Seen::Primary, Seen::ReplicaOf(FROM), TO);
            assert!(matches!(got, Action::Demote | Action::Kill), "{got:?}");
            assert_eq!(
                next(&f, Seen::Silent, Seen::ReplicaOf(FROM), TO),
                Action::Kill
            );
        }
    }

    #[test]
    fn promotion_resumes_and_commits_once_to_leads() {
        let f = failover(true, FailoverStep::Promote);
        assert_eq!(
            next(&f, Seen::ReplicaOf(TO), Seen::ReplicaOf(FROM), TO),
            Action::Promote
        );
        // Killed after REPLICAOF NO ONE, before the commit.
        assert_eq!(
            next(&f, Seen::ReplicaOf(TO), Seen::Primary, TO),
            Action::Commit
        );
        assert_eq!(next(&f, Seen::Gone, Seen::Primary, TO), Action::Commit);
        assert_eq!(next(&f, Seen::Gone, Seen::Silent, TO), Action::Wait);
    }

    #[test]
    fn planned_failover_gives_up_only_before_anything_changed() {
        let f = failover(true, FailoverStep::Fence);
        assert!(matches!(
            next(&f, Seen::Primary, Seen::Gone, TO),
            Action::Abort(_)
        ));
        assert!(matches!(
            next(&f, Seen::Silent, Seen::ReplicaOf(FROM), TO),
            Action::Abort(_)
        ));
        // After the demotion it goes forward, choosing again if `to` died.
        assert_eq!(
            next(&f, Seen::ReplicaOf(TO), Seen::Gone, TO),
            Action::Rechoose
        );
        let p = failover(true, FailoverStep::Promote);
        assert_eq!(
            next(&p, Seen::ReplicaOf(TO), Seen::Gone, TO),
            Action::Rechoose
        );
    }
}
