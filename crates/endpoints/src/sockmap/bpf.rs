//! The few `bpf(2)` commands the splice needs, as owned file descriptors.
//!
//! Written against the syscall directly: the programs are small and fixed, so a
//! loader library (and a BPF compiler on every machine that builds Larder) would be
//! more weight than the handful of commands used here.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

const MAP_CREATE: libc::c_long = 0;
const MAP_LOOKUP_ELEM: libc::c_long = 1;
const MAP_UPDATE_ELEM: libc::c_long = 2;
const MAP_DELETE_ELEM: libc::c_long = 3;
const PROG_LOAD: libc::c_long = 5;
const PROG_ATTACH: libc::c_long = 8;
const MAP_LOOKUP_AND_DELETE_ELEM: libc::c_long = 21;
const LINK_CREATE: libc::c_long = 28;

pub const MAP_TYPE_HASH: u32 = 1;
pub const MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
pub const MAP_TYPE_SOCKHASH: u32 = 18;
pub const MAP_TYPE_QUEUE: u32 = 22;
pub const PROG_TYPE_SOCK_OPS: u32 = 13;
pub const PROG_TYPE_SK_MSG: u32 = 16;
const ATTACH_CGROUP_SOCK_OPS: u32 = 3;
const ATTACH_SK_MSG_VERDICT: u32 = 7;

fn sys<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a repr(C) prefix of `union bpf_attr` that lives for the call;
    // the kernel reads (and for some commands writes) at most size_of::<T>() bytes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this descriptor to us and nobody else holds it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    flags: u32,
}

/// The cookie of this process's network namespace, as `bpf_get_netns_cookie`
/// reports it for sockets in the same namespace.
pub fn netns_cookie() -> io::Result<u64> {
    const SO_NETNS_COOKIE: libc::c_int = 71;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let mut cookie = 0u64;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: a valid socket, and a u64 out-parameter of the stated length.
    let r = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            &mut cookie as *mut u64 as *mut libc::c_void,
            &mut len,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(cookie)
    }
}

/// A BPF map with fixed-size keys and values.
pub struct Map {
    fd: OwnedFd,
    key_size: usize,
    value_size: usize,
}

impl Map {
    /// A map whose entries are all allocated up front (the kernel's default for
    /// hash maps), so updates from a program never fail for want of memory.
    pub fn create(
        map_type: u32,
        key_size: usize,
        value_size: usize,
        max_entries: u32,
    ) -> io::Result<Map> {
        Self::create_with(map_type, key_size, value_size, max_entries, 0, None)
    }

    /// An array of `max_entries` maps shaped like `template`, indexed by a u32; a
    /// program looks up the map it works on by index.
    pub fn create_array_of(template: &Map, max_entries: u32) -> io::Result<Map> {
        Self::create_with(MAP_TYPE_ARRAY_OF_MAPS, 4, 4, max_entries, 0, Some(template))
    }

    /// A hash map that allocates entries as they are added: for large, mostly
    /// empty maps.
    pub fn create_on_demand(
        key_size: usize,
        value_size: usize,
        max_entries: u32,
    ) -> io::Result<Map> {
        const NO_PREALLOC: u32 = 1;
        Self::create_with(
            MAP_TYPE_HASH,
            key_size,
            value_size,
            max_entries,
            NO_PREALLOC,
            None,
        )
    }

    fn create_with(
        map_type: u32,
        key_size: usize,
        value_size: usize,
        max_entries: u32,
        map_flags: u32,
        inner: Option<&Map>,
    ) -> io::Result<Map> {
        let mut attr = MapCreateAttr {
            map_type,
            key_size: key_size as u32,
            value_size: value_size as u32,
            max_entries,
            map_flags,
            inner_map_fd: inner.map_or(0, |m| m.fd() as u32),
        };
        let fd = owned(sys(MAP_CREATE, &mut attr)?);
        Ok(Map {
            fd,
            key_size,
            value_size,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn elem(&self, key: Option<&[u8]>, value: Option<&mut [u8]>, flags: u64) -> MapElemAttr {
        if let Some(k) = key {
            assert_eq!(k.len(), self.key_size, "key size");
        }
        let value = value.map_or(0, |v| {
            assert_eq!(v.len(), self.value_size, "value size");
            v.as_mut_ptr() as u64
        });
        MapElemAttr {
            map_fd: self.fd() as u32,
            _pad: 0,
            key: key.map_or(0, |k| k.as_ptr() as u64),
            value,
            flags,
        }
    }

    /// Inserts or replaces; for a queue, pass no key to push.
    pub fn update(&self, key: Option<&[u8]>, value: &[u8]) -> io::Result<()> {
        let mut copy = value.to_vec();
        let mut attr = self.elem(key, Some(&mut copy), 0);
        sys(MAP_UPDATE_ELEM, &mut attr).map(drop)
    }

    /// The value under `key`, or None when absent.
    pub fn lookup(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let mut value = vec![0; self.value_size];
        let mut attr = self.elem(Some(key), Some(&mut value), 0);
        match sys(MAP_LOOKUP_ELEM, &mut attr) {
            Ok(_) => Ok(Some(value)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes `key`; true when it was there. The kernel makes this atomic, which is
    /// what lets userspace and the socket program race to claim the same entry.
    pub fn delete(&self, key: &[u8]) -> io::Result<bool> {
        let mut attr = self.elem(Some(key), None, 0);
        match sys(MAP_DELETE_ELEM, &mut attr) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Pops the head of a queue map, or None when it is empty.
    pub fn pop(&self) -> io::Result<Option<Vec<u8>>> {
        let mut value = vec![0; self.value_size];
        let mut attr = self.elem(None, Some(&mut value), 0);
        match sys(MAP_LOOKUP_AND_DELETE_ELEM, &mut attr) {
            Ok(_) => Ok(Some(value)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A loaded program; the kernel keeps it while this or an attachment holds it.
pub struct Program {
    fd: OwnedFd,
}

impl Program {
    /// Loads `insns`; a verifier rejection comes back with the verifier's log.
    pub fn load(prog_type: u32, name: &str, insns: &[u64]) -> io::Result<Program> {
        let license = CString::new("GPL").expect("no NUL");
        let mut log = vec![0u8; 64 * 1024];
        let mut prog_name = [0u8; 16];
        for (slot, b) in prog_name.iter_mut().zip(name.bytes().take(15)) {
            *slot = b;
        }
        let mut attr = ProgLoadAttr {
            prog_type,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
            prog_name,
            ..Default::default()
        };
        match sys(PROG_LOAD, &mut attr) {
            Ok(fd) => Ok(Program { fd: owned(fd) }),
            Err(e) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]);
                Err(io::Error::new(e.kind(), format!("{e}; verifier: {text}")))
            }
        }
    }

    /// Runs this SK_MSG program on every send from a socket in `sockhash`. The
    /// attachment lives as long as the map.
    pub fn attach_msg_verdict(&self, sockhash: &Map) -> io::Result<()> {
        let mut attr = AttachAttr {
            target_fd: sockhash.fd() as u32,
            attach_bpf_fd: self.fd.as_raw_fd() as u32,
            attach_type: ATTACH_SK_MSG_VERDICT,
            flags: 0,
        };
        sys(PROG_ATTACH, &mut attr).map(drop)
    }

    /// Runs this SOCK_OPS program for sockets of every process in the cgroup (and its
    /// descendants). The returned link detaches it when dropped, so a daemon that dies
    /// leaves nothing attached.
    pub fn attach_cgroup_sock_ops(&self, cgroup: &Path) -> io::Result<OwnedFd> {
        let dir = std::fs::File::open(cgroup)?;
        let mut attr = AttachAttr {
            target_fd: dir.as_raw_fd() as u32,
            attach_bpf_fd: self.fd.as_raw_fd() as u32,
            attach_type: ATTACH_CGROUP_SOCK_OPS,
            flags: 0,
        };
        // LINK_CREATE takes (prog_fd, target_fd, attach_type, flags): the same four
        // words as PROG_ATTACH with the first two swapped.
        std::mem::swap(&mut attr.target_fd, &mut attr.attach_bpf_fd);
        Ok(owned(sys(LINK_CREATE, &mut attr)?))
    }
}
