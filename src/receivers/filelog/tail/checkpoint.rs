//! The read state (every known file's fingerprint and offset) as bytes, and the
//! checkpoint file that keeps it with its sequence number across restarts.
//!
//! The same state bytes are the `state` of the receiver's replay
//! [`Position`](crate::component::replay::Position)s, so a processor's stored
//! position and the receiver's own checkpoint are read the same way.
//!
//! State: `SLFS`, version 1, a u32 count, then per file a u64 offset, a u32
//! fingerprint length and the fingerprint (little endian). Checkpoint file:
//! `SLFC`, u64 sequence number, u32 CRC-32 of the state, u32 state length, state.
//! It is written to `checkpoint.tmp` and renamed over `checkpoint`, so a crash
//! leaves the old or the new one, never half of one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

const STATE_MAGIC: &[u8; 4] = b"SLFS";
const STATE_VERSION: u8 = 1;
const FILE_MAGIC: &[u8; 4] = b"SLFC";
const FILE_NAME: &str = "checkpoint";
const TMP_NAME: &str = "checkpoint.tmp";

/// One known file: the first bytes that identify it, and how far it has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    /// The first bytes of the file (up to `fingerprint_size`).
    pub fingerprint: Vec<u8>,
    /// Bytes of the file handed on as entries.
    pub offset: u64,
}

/// Encodes the read state.
pub fn encode(files: &[FileState]) -> Vec<u8> {
    let size = 9 + files.iter().map(|f| 12 + f.fingerprint.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(STATE_MAGIC);
    out.push(STATE_VERSION);
    out.extend_from_slice(&len_u32(files.len()).to_le_bytes());
    for file in files {
        out.extend_from_slice(&file.offset.to_le_bytes());
        out.extend_from_slice(&len_u32(file.fingerprint.len()).to_le_bytes());
        out.extend_from_slice(&file.fingerprint);
    }
    out
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Decodes a read state written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Vec<FileState>, String> {
    let mut reader = Reader(bytes);
    if reader.take(4)? != STATE_MAGIC {
        return Err("not a filelog read state (bad magic)".into());
    }
    let version = reader.take(1)?;
    if version != [STATE_VERSION] {
        return Err(format!("unknown read state version {version:?}"));
    }
    let count = reader.u32()?;
    let mut files = Vec::new();
    for _ in 0..count {
        let offset = reader.u64()?;
        let len = reader.u32()? as usize;
        let fingerprint = reader.take(len)?.to_vec();
        files.push(FileState { fingerprint, offset });
    }
    if !reader.0.is_empty() {
        return Err("trailing bytes after the read state".into());
    }
    Ok(files)
}

/// A bounds-checked cursor over bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("read state is cut short".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let bytes: [u8; 4] = self.take(4)?.try_into().map_err(|_| "read state is cut short")?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let bytes: [u8; 8] = self.take(8)?.try_into().map_err(|_| "read state is cut short")?;
        Ok(u64::from_le_bytes(bytes))
    }
}

/// The checkpoint file of one receiver, in its own directory of a `file_storage`.
#[derive(Debug, Clone)]
pub struct CheckpointFile {
    dir: PathBuf,
    fsync: bool,
}

impl CheckpointFile {
    /// The checkpoint in `dir`; `fsync` syncs each write to the device.
    pub fn new(dir: PathBuf, fsync: bool) -> Self {
        Self { dir, fsync }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The stored sequence number and state; `Ok(None)` when there is none yet.
    pub fn load(&self) -> Result<Option<(u64, Vec<u8>)>, String> {
        let path = self.dir.join(FILE_NAME);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        let mut reader = Reader(&bytes);
        let parsed = (|| {
            if reader.take(4)? != FILE_MAGIC {
                return Err("not a filelog checkpoint (bad magic)".to_string());
            }
            let seq = reader.u64()?;
            let crc = reader.u32()?;
            let len = reader.u32()? as usize;
            let state = reader.take(len)?;
            if crc32fast::hash(state) != crc {
                return Err("checksum mismatch".to_string());
            }
            decode(state)?;
            Ok((seq, state.to_vec()))
        })();
        parsed.map(Some).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Replaces the checkpoint with `seq` and `state`, atomically.
    pub fn store(&self, seq: u64, state: &[u8]) -> Result<(), String> {
        let tmp = self.dir.join(TMP_NAME);
        let path = self.dir.join(FILE_NAME);
        let mut bytes = Vec::with_capacity(20 + state.len());
        bytes.extend_from_slice(FILE_MAGIC);
        bytes.extend_from_slice(&seq.to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(state).to_le_bytes());
        bytes.extend_from_slice(&len_u32(state.len()).to_le_bytes());
        bytes.extend_from_slice(state);
        let write = || -> std::io::Result<()> {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            if self.fsync {
                file.sync_data()?;
            }
            fs::rename(&tmp, &path)?;
            if self.fsync {
                fs::File::open(&self.dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| format!("writing {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_damage_is_an_error_not_a_panic() {
        let files = vec![
            FileState {
                fingerprint: b"first line".to_vec(),
                offset: 42,
            },
            FileState {
                fingerprint: vec![],
                offset: u64::MAX,
            },
        ];
        let bytes = encode(&files);
        assert_eq!(decode(&bytes).unwrap(), files);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
