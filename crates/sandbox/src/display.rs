//! The live view: watches NodeENIs and ENIAttachments and prints their progress
//! ([`crate::progress`]). On a terminal a table is redrawn in place; otherwise (a pipe, a log,
//! CI) one line is printed per change.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use futures::{Stream, StreamExt};
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use multi_eni_api::{EniAttachment, NodeEni};

use crate::progress::{self, Goal, Row};

/// A live view over the cluster's NodeENIs and ENIAttachments.
pub struct Display {
    node_enis: Store<NodeEni>,
    attachments: Store<EniAttachment>,
    /// (which watch: 0 NodeENIs, 1 ENIAttachments; whether its initial list is complete).
    changes: std::pin::Pin<Box<dyn Stream<Item = (usize, bool)> + Send>>,
    /// Each watch has listed everything once: only then are the rows the whole truth.
    synced: [bool; 2],
    started: Instant,
    tty: bool,
    /// Lines of the table drawn last (redrawn over on a terminal).
    drawn: usize,
    last: Option<Vec<Row>>,
}

impl std::fmt::Debug for Display {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Display")
            .field("tty", &self.tty)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl Display {
    /// Starts watching through `client`; `tty` redraws a table, otherwise prints lines.
    pub fn new(client: &kube::Client, started: Instant) -> Display {
        let (node_enis, ne_writer) = reflector::store();
        let (attachments, att_writer) = reflector::store();
        let ne = reflector::reflector(
            ne_writer,
            watcher(
                Api::<NodeEni>::all(client.clone()),
                watcher::Config::default(),
            ),
        )
        .default_backoff()
        .map(|e| (0, matches!(e, Ok(watcher::Event::InitDone))));
        let att = reflector::reflector(
            att_writer,
            watcher(
                Api::<EniAttachment>::all(client.clone()),
                watcher::Config::default(),
            ),
        )
        .default_backoff()
        .map(|e| (1, matches!(e, Ok(watcher::Event::InitDone))));
        Display {
            node_enis,
            attachments,
            changes: Box::pin(futures::stream::select(ne, att)),
            started,
            synced: [false; 2],
            tty: std::io::stdout().is_terminal(),
            drawn: 0,
            last: None,
        }
    }

    fn rows(&self) -> Vec<Row> {
        let nes: Vec<NodeEni> = self
            .node_enis
            .state()
            .iter()
            .map(|o| (**o).clone())
            .collect();
        let atts: Vec<EniAttachment> = self
            .attachments
            .state()
            .iter()
            .map(|o| (**o).clone())
            .collect();
        progress::rows(&nes, &atts)
    }

    /// Waits for the next change; the rows then, or `None` when the watches ended.
    async fn next(&mut self) -> Option<Vec<Row>> {
        loop {
            let (which, init_done) = self.changes.next().await?;
            self.synced[which] |= init_done;
            if self.synced != [true; 2] {
                continue;
            }
            let rows = self.rows();
            if self.last.as_ref() != Some(&rows) {
                self.last = Some(rows.clone());
                return Some(rows);
            }
        }
    }

    /// Shows progress until everything converged towards `goal` (returns the rows then) or the
    /// watches ended (`None`). The table stays on screen.
    pub async fn until_converged(&mut self, goal: Goal) -> Option<Vec<Row>> {
        while let Some(rows) = self.next().await {
            if self.tty {
                self.redraw(&progress::table(&rows));
            } else {
                self.line(&progress::line(&rows));
            }
            if progress::converged(&rows, goal) {
                self.drawn = 0;
                return Some(rows);
            }
        }
        None
    }

    /// Prints one line per change, for ever (until the caller stops polling it).
    pub async fn follow(&mut self) {
        while let Some(rows) = self.next().await {
            self.line(&progress::line(&rows));
        }
    }

    /// The seconds since start, as shown.
    pub fn elapsed(&self) -> String {
        format!("{:.1}s", self.started.elapsed().as_secs_f64())
    }

    fn line(&self, text: &str) {
        println!("[{:>7}] {text}", self.elapsed());
    }

    fn redraw(&mut self, lines: &[String]) {
        let mut out = std::io::stdout().lock();
        if self.drawn > 0 {
            // Up to the table's first line, then clear to the end of the screen.
            let _ = write!(out, "\x1b[{}A\x1b[J", self.drawn);
        }
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = writeln!(out, "({} elapsed)", self.elapsed());
        let _ = out.flush();
        self.drawn = lines.len() + 1;
    }
}
