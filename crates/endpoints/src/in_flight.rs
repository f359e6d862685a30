//! What one client has sent over a shared node connection and not yet had
//! answered. Past a number of commands or of bytes the session stops reading from
//! the client until replies drain, so a client that pipelines big values to a node
//! that has stopped reading (paused, overloaded) cannot make the endpoint hold
//! more than this; a direct connection would have blocked in the kernel instead.

use std::collections::VecDeque;

/// Commands a client may have outstanding on the shared connection.
const MAX_COMMANDS: usize = 1024;

/// Request bytes a client may have outstanding (one big command always fits).
const MAX_BYTES: usize = 4 * 1024 * 1024;

/// A client's unanswered batches, oldest first.
#[derive(Default)]
pub(crate) struct InFlight {
    /// (commands, bytes) of each batch sent.
    batches: VecDeque<(usize, usize)>,
    commands: usize,
    bytes: usize,
}

impl InFlight {
    /// A batch of `commands` commands in `bytes` bytes went to the node.
    pub(crate) fn sent(&mut self, commands: usize, bytes: usize) {
        self.batches.push_back((commands, bytes));
        self.commands += commands;
        self.bytes += bytes;
    }

    /// `count` replies came back, answering the oldest commands.
    pub(crate) fn answered(&mut self, mut count: usize) {
        self.commands -= count.min(self.commands);
        while count > 0 {
            let Some(front) = self.batches.front_mut() else {
                break;
            };
            let n = count.min(front.0);
            // A batch's bytes are freed when its last reply is in.
            front.0 -= n;
            count -= n;
            if front.0 == 0 {
                self.bytes -= front.1;
                self.batches.pop_front();
            }
        }
    }

    /// Commands still unanswered.
    pub(crate) fn commands(&self) -> usize {
        self.commands
    }

    /// Whether the client may send more now.
    pub(crate) fn has_room(&self) -> bool {
        self.commands < MAX_COMMANDS && self.bytes < MAX_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_pipelined_values_stop_the_reading_until_answered() {
        let mut f = InFlight::default();
        for _ in 0..3 {
            f.sent(1, 1 << 20);
        }
        assert!(f.has_room());
        f.sent(2, 1 << 20);
        assert!(!f.has_room(), "4 MiB outstanding");
        f.answered(1);
        assert!(f.has_room());
        assert_eq!(f.commands(), 4);
        f.answered(4);
        assert_eq!((f.commands(), f.bytes), (0, 0));
    }

    #[test]
    fn many_small_commands_are_capped_by_count() {
        let mut f = InFlight::default();
        f.sent(MAX_COMMANDS, 4 * MAX_COMMANDS);
        assert!(!f.has_room());
        f.answered(1);
        assert!(f.has_room());
    }
}
