//! The controller's tests find the bound port by parsing the start-up log line; this pins its
//! exact text with a minimal in-test tracing subscriber (no extra dependency).

mod support;

use std::fmt;
use std::sync::{Arc, Mutex};

use support::{config, started, TestResult};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Message<'a>(&'a mut String);

impl Visit for Message<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!("{value:?}"));
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = String::new();
        event.record(&mut Message(&mut line));
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn start_logs_the_bound_address() -> TestResult {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let (p, addr) = started(config(&["example.test"])).await?;
    p.shutdown().await;
    let lines = capture.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let want = format!("embedded DNS listening on udp+tcp {addr}");
    assert!(lines.contains(&want), "{want:?} not in {lines:?}");
    assert_ne!(addr.port(), 0);
    Ok(())
}
