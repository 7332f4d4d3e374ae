use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sloop-storage-{name}-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn options(sizer: Sizer, capacity: u64) -> QueueOptions {
    QueueOptions {
        fsync: false,
        sizer,
        capacity,
        timeout: Duration::from_secs(5),
    }
}

fn payload(i: u32) -> Bytes {
    Bytes::from(format!("record number {i} {}", "x".repeat(i as usize % 50)))
}

async fn pop_all(queue: &DiskQueue, n: usize) -> Vec<Record> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(
            tokio::time::timeout(Duration::from_secs(5), queue.pop())
                .await
                .expect("a record is ready"),
        );
    }
    out
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    segment_files(dir).unwrap()
}

#[tokio::test]
async fn records_come_back_in_order_and_survive_a_reopen() {
    let dir = temp_dir("reopen");
    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    for i in 0..10 {
        queue.push(1, i, payload(i)).await.unwrap();
    }
    let first = pop_all(&queue, 3).await;
    assert_eq!(first.iter().map(|r| r.items).collect::<Vec<_>>(), [0, 1, 2]);
    queue.ack(first[0].seq);
    queue.ack(first[1].seq);
    // The third was taken but not acknowledged when the process "dies".
    queue.close();
    drop(queue);

    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    assert_eq!(queue.stats().requests, 8);
    let again = pop_all(&queue, 8).await;
    assert_eq!(
        again.iter().map(|r| r.items).collect::<Vec<_>>(),
        (2..10).collect::<Vec<_>>()
    );
    for r in &again {
        assert_eq!(r.payload, payload(r.items), "payload read back from disk");
        assert_eq!(r.kind, 1);
    }
    for r in again {
        queue.ack(r.seq);
    }
    assert_eq!(queue.stats().requests, 0);
    queue.close();
    drop(queue);
    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    assert_eq!(
        queue.stats().requests,
        0,
        "acknowledged records are not delivered again"
    );
    assert!(
        segments(&dir).is_empty(),
        "delivered segments are deleted on open: {:?}",
        segments(&dir)
    );
}

#[tokio::test]
async fn a_released_record_is_taken_again_first() {
    let dir = temp_dir("release");
    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    for i in 0..3 {
        queue.push(0, i, payload(i)).await.unwrap();
    }
    let taken = pop_all(&queue, 2).await;
    queue.release(taken[0].seq);
    let next = pop_all(&queue, 1).await;
    assert_eq!(next[0].seq, taken[0].seq);
}

#[tokio::test]
async fn capacity_is_counted_by_the_sizer() {
    let dir = temp_dir("sizer");
    let queue = DiskQueue::open(&dir, options(Sizer::Items, 25)).unwrap();
    queue.push(0, 10, payload(1)).await.unwrap();
    queue.push(0, 10, payload(2)).await.unwrap();
    assert!(matches!(queue.push(0, 10, payload(3)).await, Err(PushError::Full)));
    assert_eq!(queue.size(), 20);
    let r = pop_all(&queue, 1).await;
    queue.ack(r[0].seq);
    queue.push(0, 10, payload(3)).await.unwrap();

    let dir = temp_dir("bytes");
    let queue = DiskQueue::open(&dir, options(Sizer::Bytes, 100)).unwrap();
    queue.push(0, 1, Bytes::from(vec![7u8; 60])).await.unwrap();
    assert_eq!(queue.size(), (HEADER + 60) as u64);
    assert!(matches!(
        queue.push(0, 1, Bytes::from(vec![7u8; 60])).await,
        Err(PushError::Full)
    ));
}

#[tokio::test]
async fn a_torn_last_write_is_cut_off_and_counted() {
    let dir = temp_dir("torn");
    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    for i in 0..5 {
        queue.push(0, i, payload(i)).await.unwrap();
    }
    queue.close();
    drop(queue);
    let file = segments(&dir).pop().unwrap();
    let len = std::fs::metadata(&file).unwrap().len();
    // Cut inside the last record.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 5)
        .unwrap();

    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    let stats = queue.stats();
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.damaged_records, 1);
    let records = pop_all(&queue, 4).await;
    assert_eq!(records.iter().map(|r| r.items).collect::<Vec<_>>(), [0, 1, 2, 3]);
    // New writes after the cut are read back whole after another reopen.
    queue.push(0, 99, payload(99)).await.unwrap();
    queue.close();
    drop(queue);
    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    assert_eq!(queue.stats().requests, 5);
    assert_eq!(queue.stats().damaged_records, 0, "the cut left a clean file");
}

#[tokio::test]
async fn damage_in_the_middle_costs_only_the_damaged_record_and_is_set_aside() {
    let dir = temp_dir("garbage");
    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    for i in 0..6 {
        queue.push(0, i, payload(i)).await.unwrap();
    }
    queue.close();
    drop(queue);
    let file = segments(&dir).pop().unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let scan = record::scan(&bytes);
    // Overwrite the middle of the third record's payload.
    let (offset, meta) = scan.records[2];
    let at = offset as usize + HEADER + meta.len as usize / 2;
    bytes[at..at + 4].copy_from_slice(b"\xde\xad\xbe\xef");
    std::fs::write(&file, &bytes).unwrap();
    std::fs::write(dir.join("not-a-queue-file"), b"ignored").unwrap();

    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    let stats = queue.stats();
    assert_eq!(stats.damaged_records, 1);
    assert_eq!(stats.damaged_bytes, (HEADER + meta.len as usize) as u64);
    let records = pop_all(&queue, 5).await;
    assert_eq!(records.iter().map(|r| r.items).collect::<Vec<_>>(), [0, 1, 3, 4, 5]);
    let aside: Vec<_> = std::fs::read_dir(dir.join("damaged")).unwrap().collect();
    assert_eq!(aside.len(), 1, "the damaged file is kept aside");
    assert!(
        record::scan(&std::fs::read(&file).unwrap()).is_clean(),
        "the segment was rewritten clean"
    );
}

#[tokio::test]
async fn a_file_of_garbage_is_set_aside_and_the_queue_opens() {
    let dir = temp_dir("allgarbage");
    std::fs::write(segment_path(&dir, 0), rand::random::<[u8; 32]>().repeat(100)).unwrap();
    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    assert_eq!(queue.stats().requests, 0);
    assert_eq!(queue.stats().damaged_records, 1);
    assert_eq!(queue.stats().damaged_bytes, 3200);
    assert!(segments(&dir).is_empty());
    queue.push(0, 1, payload(1)).await.unwrap();
    assert_eq!(pop_all(&queue, 1).await[0].items, 1);
}

#[tokio::test]
async fn one_process_per_queue() {
    let dir = temp_dir("lock");
    let _queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    let error = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap_err();
    assert!(error.message.contains("another process"), "{error}");
}

#[tokio::test]
async fn segments_roll_and_delivered_ones_are_deleted() {
    let dir = temp_dir("roll");
    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 1000)).unwrap();
    let big = Bytes::from(vec![1u8; 1 << 20]);
    for i in 0..20 {
        queue.push(0, i, big.clone()).await.unwrap();
    }
    assert!(segments(&dir).len() >= 2, "{:?}", segments(&dir));
    let records = pop_all(&queue, 20).await;
    for r in &records {
        queue.ack(r.seq);
    }
    // Only the segment being written stays.
    assert_eq!(segments(&dir).len(), 1);
    assert_eq!(queue.stats().requests, 0);
    assert!(queue.stats().disk_bytes <= SEGMENT_BYTES + (1 << 20) + HEADER as u64);
}

#[tokio::test]
async fn a_write_that_fails_is_refused_and_the_next_one_works() {
    let dir = temp_dir("fail");
    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    queue.push(0, 1, payload(1)).await.unwrap();
    // Make the next segment impossible to create: a directory where its file goes.
    // (Disk-full behaviour is tested for real in integration-tests/tests/persistent_queue.rs.)
    queue
        .push(0, 2, Bytes::from(vec![0u8; SEGMENT_BYTES as usize]))
        .await
        .unwrap();
    std::fs::create_dir(segment_path(&dir, 2)).unwrap();
    let error = queue.push(0, 3, payload(3)).await.unwrap_err();
    assert!(matches!(error, PushError::Write { .. }), "{error}");
    std::fs::remove_dir(segment_path(&dir, 2)).unwrap();
    queue.push(0, 3, payload(3)).await.unwrap();
    assert_eq!(queue.stats().requests, 3);
    let records = pop_all(&queue, 3).await;
    assert_eq!(records.iter().map(|r| r.items).collect::<Vec<_>>(), [1, 2, 3]);
}

#[tokio::test]
async fn acknowledgements_survive_a_reopen() {
    let dir = temp_dir("acks");
    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    for i in 0..4 {
        queue.push(0, i, payload(i)).await.unwrap();
    }
    let records = pop_all(&queue, 4).await;
    queue.ack(records[1].seq);
    queue.ack(records[3].seq);
    queue.close();
    drop(queue);
    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    let again = pop_all(&queue, 2).await;
    assert_eq!(again.iter().map(|r| r.items).collect::<Vec<_>>(), [0, 2]);
}

#[test]
fn scan_finds_records_after_garbage_and_a_torn_tail() {
    let mut buf = Vec::new();
    for seq in 0..3u64 {
        let body = vec![seq as u8; 10];
        let meta = record::Meta {
            seq,
            kind: 2,
            items: 1,
            len: 10,
        };
        buf.extend_from_slice(&record::header(meta, &body));
        buf.extend_from_slice(&body);
    }
    let mut damaged = b"garbage SLQ1 garbage".to_vec();
    damaged.extend_from_slice(&buf);
    damaged.extend_from_slice(&buf[..30]);
    let scan = record::scan(&damaged);
    assert_eq!(scan.records.len(), 3);
    assert_eq!(scan.damaged, vec![(0, 20)]);
    assert_eq!(scan.tail, Some(20 + buf.len()));
}

#[tokio::test]
async fn the_segment_being_written_is_emptied_once_everything_in_it_was_delivered() {
    let dir = temp_dir("reuse");
    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    for i in 0..5 {
        queue.push(0, i, payload(i)).await.unwrap();
    }
    for r in pop_all(&queue, 5).await {
        queue.ack(r.seq);
    }
    let before = queue.stats().disk_bytes;
    assert!(before > 0);
    queue.push(0, 9, payload(9)).await.unwrap();
    let after = queue.stats().disk_bytes;
    assert_eq!(
        after,
        (HEADER + payload(9).len()) as u64,
        "the delivered records' space was given back"
    );
    assert_eq!(std::fs::metadata(segments(&dir).pop().unwrap()).unwrap().len(), after);
    // And it reads back after a restart.
    queue.close();
    drop(queue);
    let queue = DiskQueue::open(&dir, options(Sizer::Requests, 100)).unwrap();
    assert_eq!(pop_all(&queue, 1).await[0].items, 9);
}

#[tokio::test]
async fn with_fsync_records_are_synced_and_read_back() {
    let dir = temp_dir("fsync");
    let mut synced = options(Sizer::Requests, 100);
    synced.fsync = true;
    let queue = DiskQueue::open(&dir, synced.clone()).unwrap();
    let pushes = (0..20).map(|i| queue.push(2, i, payload(i)));
    for result in futures_util::future::join_all(pushes).await {
        result.unwrap();
    }
    queue.close();
    drop(queue);
    let queue = DiskQueue::open(&dir, synced).unwrap();
    let mut items: Vec<u32> = pop_all(&queue, 20).await.iter().map(|r| r.items).collect();
    items.sort_unstable();
    assert_eq!(items, (0..20).collect::<Vec<_>>());
}
