//! The queue's bounds: a full queue answers at once, a caller that left never hashes.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::AtomicBool;

use super::*;

#[tokio::test]
async fn a_full_queue_is_busy_at_once_and_a_departed_caller_never_runs() {
    let hasher = PasswordHasher::new(1, 1, Duration::from_secs(7));
    // The only thread is busy until `release` is sent.
    let (release, held) = mpsc::channel::<()>();
    let first = tokio::spawn({
        let hasher = hasher.clone();
        async move { hasher.run(move || held.recv().is_ok()).await.unwrap() }
    });
    // Wait (bounded) until the first job holds the slot.
    for _ in 0..200 {
        if hasher.slots.available_permits() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(hasher.slots.available_permits(), 0);

    // The second waits; the third finds the queue full and is told so at once.
    let ran = Arc::new(AtomicBool::new(false));
    let second = tokio::spawn({
        let (hasher, ran) = (hasher.clone(), Arc::clone(&ran));
        async move { hasher.run(move || ran.store(true, Ordering::SeqCst)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let busy = tokio::time::timeout(Duration::from_secs(1), hasher.run(|| ()))
        .await
        .expect("answered at once")
        .unwrap_err();
    assert_eq!(
        busy.downcast_ref::<HashingBusy>().unwrap().retry_after,
        Duration::from_secs(7)
    );

    // The waiting caller goes away; its work must never run, and its place is free again.
    second.abort();
    assert!(second.await.unwrap_err().is_cancelled());
    release.send(()).unwrap();
    assert!(first.await.unwrap());
    hasher.run(|| ()).await.unwrap();
    assert!(!ran.load(Ordering::SeqCst), "a departed caller's work ran");
    assert_eq!(hasher.admitted.load(Ordering::SeqCst), 0);
}
