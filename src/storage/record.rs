//! The record format of a queue segment, and the scan that reads a segment back
//! after a crash.
//!
//! A record is a 28-byte header and its payload:
//!
//! | bytes  | field                                                    |
//! |--------|----------------------------------------------------------|
//! | 0..4   | magic `SLQ1`                                             |
//! | 4..8   | payload length, u32 LE                                   |
//! | 8      | kind (the signal), u8                                    |
//! | 9..12  | reserved, zero                                           |
//! | 12..16 | items, u32 LE                                            |
//! | 16..24 | sequence number, u64 LE                                  |
//! | 24..28 | CRC-32 (IEEE) of bytes 4..24 and the payload, u32 LE      |
//!
//! The magic lets the scan find the next record after damaged bytes; the checksum
//! tells a record from a torn write or garbage that happens to contain the magic.

/// The first four bytes of every record.
pub(crate) const MAGIC: [u8; 4] = *b"SLQ1";
/// Header length.
pub(crate) const HEADER: usize = 28;

/// What the header says about one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub seq: u64,
    pub kind: u8,
    pub items: u32,
    pub len: u32,
}

/// The header of a record carrying `payload`.
pub(crate) fn header(meta: Meta, payload: &[u8]) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&meta.len.to_le_bytes());
    h[8] = meta.kind;
    h[12..16].copy_from_slice(&meta.items.to_le_bytes());
    h[16..24].copy_from_slice(&meta.seq.to_le_bytes());
    let crc = checksum(&h, payload);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

fn checksum(header: &[u8; HEADER], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[4..24]);
    hasher.update(payload);
    hasher.finalize()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Whether `payload` is what the record with header `h` carried.
pub(crate) fn verify(h: &[u8; HEADER], payload: &[u8]) -> bool {
    checksum(h, payload) == u32_at(h, 24)
}

/// The record starting at `at` in `buf`, if a whole record with a good checksum is
/// there.
pub(crate) fn parse_at(buf: &[u8], at: usize) -> Option<Meta> {
    let rest = buf.get(at..)?;
    if rest.len() < HEADER || rest[0..4] != MAGIC {
        return None;
    }
    let h: [u8; HEADER] = rest[..HEADER].try_into().ok()?;
    let len = u32_at(&h, 4);
    let payload = rest.get(HEADER..HEADER.checked_add(len as usize)?)?;
    if !verify(&h, payload) {
        return None;
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&h[16..24]);
    Some(Meta {
        seq: u64::from_le_bytes(seq),
        kind: h[8],
        items: u32_at(&h, 12),
        len,
    })
}

/// What a scan of one segment found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Intact records and the offset of each one's header.
    pub records: Vec<(u64, Meta)>,
    /// Byte ranges that are not intact records, followed by an intact one.
    pub damaged: Vec<(usize, usize)>,
    /// Where bytes start that hold no intact record up to the end of the file
    /// (a torn write, or a file cut short).
    pub tail: Option<usize>,
}

impl Scan {
    /// Whether anything was not an intact record.
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty() && self.tail.is_none()
    }
}

/// Reads `buf` as a sequence of records. Where a record is damaged, the scan looks
/// for the next magic that starts an intact record and carries on from there, so
/// one bad region costs only the records in it.
pub(crate) fn scan(buf: &[u8]) -> Scan {
    let mut out = Scan::default();
    let mut at = 0;
    while at < buf.len() {
        if let Some(meta) = parse_at(buf, at) {
            out.records.push((at as u64, meta));
            at += HEADER + meta.len as usize;
            continue;
        }
        match next_record(buf, at + 1) {
            Some(next) => {
                out.damaged.push((at, next));
                at = next;
            }
            None => {
                out.tail = Some(at);
                break;
            }
        }
    }
    out
}

/// The offset of the first intact record at or after `from`.
fn next_record(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at + HEADER <= buf.len() {
        let found = buf[at..].windows(MAGIC.len()).position(|w| w == MAGIC)?;
        let candidate = at + found;
        if parse_at(buf, candidate).is_some() {
            return Some(candidate);
        }
        at = candidate + 1;
    }
    None
}

/// Length of one acknowledgement entry: the sequence number and its CRC-32.
pub(crate) const ACK: usize = 12;

/// An acknowledgement entry for `seq`.
pub(crate) fn ack_entry(seq: u64) -> [u8; ACK] {
    let mut e = [0u8; ACK];
    e[..8].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32fast::hash(&e[..8]);
    e[8..].copy_from_slice(&crc.to_le_bytes());
    e
}

/// The sequence numbers in an acknowledgement file; damaged entries and a torn
/// last entry are passed over (their records are delivered again: a duplicate, not
/// a loss).
pub(crate) fn acks(buf: &[u8]) -> impl Iterator<Item = u64> + '_ {
    buf.chunks_exact(ACK).filter_map(|e| {
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&e[..8]);
        (crc32fast::hash(&e[..8]) == u32_at(e, 8)).then(|| u64::from_le_bytes(seq))
    })
}
