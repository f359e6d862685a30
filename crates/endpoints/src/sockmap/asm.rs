//! A tiny eBPF assembler: the instructions the splice programs use, with named jump
//! targets so the programs read top to bottom.

use std::collections::HashMap;

pub const R0: u8 = 0;
pub const R1: u8 = 1;
pub const R2: u8 = 2;
pub const R3: u8 = 3;
pub const R4: u8 = 4;
pub const R6: u8 = 6;
pub const R7: u8 = 7;
/// The read-only frame pointer; the stack grows down from it.
pub const FP: u8 = 10;

/// Helper functions, by their number in the kernel's helper table.
pub mod helper {
    pub const MAP_LOOKUP_ELEM: i32 = 1;
    pub const MAP_UPDATE_ELEM: i32 = 2;
    pub const MAP_DELETE_ELEM: i32 = 3;
    pub const SOCK_OPS_CB_FLAGS_SET: i32 = 59;
    pub const SOCK_HASH_UPDATE: i32 = 70;
    pub const MSG_REDIRECT_HASH: i32 = 71;
    pub const MAP_PUSH_ELEM: i32 = 87;
    pub const MAP_POP_ELEM: i32 = 88;
    pub const GET_NETNS_COOKIE: i32 = 122;
}

#[derive(Default)]
pub struct Asm {
    insns: Vec<(u8, u8, u8, i16, i32)>,
    labels: HashMap<&'static str, usize>,
    jumps: Vec<(usize, &'static str)>,
}

impl Asm {
    fn emit(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) -> &mut Self {
        self.insns.push((code, dst, src, off, imm));
        self
    }

    fn jump(&mut self, code: u8, dst: u8, imm: i32, to: &'static str) -> &mut Self {
        self.jumps.push((self.insns.len(), to));
        self.emit(code, dst, 0, 0, imm)
    }

    pub fn label(&mut self, name: &'static str) -> &mut Self {
        let previous = self.labels.insert(name, self.insns.len());
        assert!(previous.is_none(), "label {name} defined twice");
        self
    }

    /// dst = src (64-bit).
    pub fn mov(&mut self, dst: u8, src: u8) -> &mut Self {
        self.emit(0xbf, dst, src, 0, 0)
    }

    /// dst = imm (64-bit, sign-extended).
    pub fn mov_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.emit(0xb7, dst, 0, 0, imm)
    }

    /// dst += imm (64-bit).
    pub fn add_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.emit(0x07, dst, 0, 0, imm)
    }

    /// dst >>= imm (32-bit logical).
    pub fn rsh32_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.emit(0x74, dst, 0, 0, imm)
    }

    /// dst = the low 16 bits of dst read as big-endian (a network-order port to host order).
    pub fn be16(&mut self, dst: u8) -> &mut Self {
        self.emit(0xdc, dst, 0, 0, 16)
    }

    /// dst = *(u32 *)(src + off).
    pub fn load32(&mut self, dst: u8, src: u8, off: i16) -> &mut Self {
        self.emit(0x61, dst, src, off, 0)
    }

    /// dst = *(u64 *)(src + off).
    pub fn load64(&mut self, dst: u8, src: u8, off: i16) -> &mut Self {
        self.emit(0x79, dst, src, off, 0)
    }

    /// *(u32 *)(dst + off) = src.
    pub fn store32(&mut self, dst: u8, off: i16, src: u8) -> &mut Self {
        self.emit(0x63, dst, src, off, 0)
    }

    /// *(u64 *)(dst + off) = src.
    pub fn store64(&mut self, dst: u8, off: i16, src: u8) -> &mut Self {
        self.emit(0x7b, dst, src, off, 0)
    }

    /// *(u32 *)(dst + off) = imm.
    pub fn store32_imm(&mut self, dst: u8, off: i16, imm: i32) -> &mut Self {
        self.emit(0x62, dst, 0, off, imm)
    }

    /// dst = imm (a full 64-bit constant, two slots).
    pub fn load_imm64(&mut self, dst: u8, imm: u64) -> &mut Self {
        self.emit(0x18, dst, 0, 0, imm as u32 as i32)
            .emit(0, 0, 0, 0, (imm >> 32) as u32 as i32)
    }

    /// dst = the map behind file descriptor `fd` (a two-slot instruction).
    pub fn load_map(&mut self, dst: u8, fd: i32) -> &mut Self {
        // src 1 = BPF_PSEUDO_MAP_FD: the verifier swaps the fd for the map's address.
        self.emit(0x18, dst, 1, 0, fd).emit(0, 0, 0, 0, 0)
    }

    /// dst = FP + off: a pointer into the stack, for helper arguments.
    pub fn stack_ptr(&mut self, dst: u8, off: i32) -> &mut Self {
        self.mov(dst, FP).add_imm(dst, off)
    }

    pub fn jeq_imm(&mut self, reg: u8, imm: i32, to: &'static str) -> &mut Self {
        self.jump(0x15, reg, imm, to)
    }

    pub fn jne_imm(&mut self, reg: u8, imm: i32, to: &'static str) -> &mut Self {
        self.jump(0x55, reg, imm, to)
    }

    /// if reg != src goto.
    pub fn jne(&mut self, reg: u8, src: u8, to: &'static str) -> &mut Self {
        self.jumps.push((self.insns.len(), to));
        self.emit(0x5d, reg, src, 0, 0)
    }

    pub fn goto(&mut self, to: &'static str) -> &mut Self {
        self.jump(0x05, 0, 0, to)
    }

    pub fn call(&mut self, helper: i32) -> &mut Self {
        self.emit(0x85, 0, 0, 0, helper)
    }

    pub fn exit(&mut self) -> &mut Self {
        self.emit(0x95, 0, 0, 0, 0)
    }

    /// The program in the kernel's `struct bpf_insn` layout, jumps resolved.
    pub fn finish(&self) -> Vec<u64> {
        let mut insns = self.insns.clone();
        for &(at, to) in &self.jumps {
            let target = *self
                .labels
                .get(to)
                .unwrap_or_else(|| panic!("jump to undefined label {to}"));
            let off = target as i64 - at as i64 - 1;
            insns[at].3 = i16::try_from(off).expect("jump within range");
        }
        insns
            .iter()
            .map(|&(code, dst, src, off, imm)| {
                u64::from(code)
                    | u64::from(dst | (src << 4)) << 8
                    | u64::from(off as u16) << 16
                    | u64::from(imm as u32) << 32
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_kernel_layout_and_resolves_jumps() {
        let mut a = Asm::default();
        a.jeq_imm(R1, 4, "out")
            .mov(R6, R1)
            .label("out")
            .mov_imm(R0, 1)
            .exit();
        let p = a.finish();
        // if r1 == 4 goto +1: code 0x15, dst 1, off 1, imm 4.
        assert_eq!(p[0], 0x15 | 1 << 8 | 1 << 16 | 4 << 32);
        // r6 = r1: dst 6 in the low nibble, src 1 in the high one.
        assert_eq!(p[1], 0xbf | 0x16 << 8);
        assert_eq!(p[2], 0xb7 | 1 << 32);
        assert_eq!(p[3], 0x95);
    }

    #[test]
    fn backward_jumps_are_negative() {
        let mut a = Asm::default();
        a.label("top").mov_imm(R0, 0).goto("top");
        let p = a.finish();
        assert_eq!((p[1] >> 16) as u16 as i16, -2);
    }
}
