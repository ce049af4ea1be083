//! The end-of-run summary and the list of rejected records.

use std::io::Write;
use std::time::Duration;

use super::client::Outcome;
use super::input::Rejection;
use crate::domain::Entity;

/// What became of one entity's records. Unlike the API's counts, `updated` leaves out the
/// unchanged ones, so that the four columns add up to the records read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub records: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub errors: usize,
    /// Records that were never answered because the run stopped.
    pub not_sent: usize,
}

impl Tally {
    pub fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Rejected { .. } => self.errors += 1,
        }
    }

    fn add(&mut self, other: &Tally) {
        self.records += other.records;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.errors += other.errors;
        self.not_sent += other.not_sent;
    }
}

#[derive(Debug)]
pub struct EntityReport {
    pub entity: Entity,
    pub tally: Tally,
    pub elapsed: Duration,
}

pub struct Report {
    pub entities: Vec<EntityReport>,
    pub rejected: Vec<Rejection>,
    pub retries_rate_limited: u32,
    pub retries_failed: u32,
    /// Records, nested ones included, that kept a value the shop floor owns.
    pub kept: u32,
}

fn rate(records: usize, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    if seconds <= 0.0 {
        return "-".to_owned();
    }
    format!("{:.0}", records as f64 / seconds)
}

impl Report {
    pub fn any_rejected(&self) -> bool {
        !self.rejected.is_empty()
    }

    /// Whether a dry run would create records and found references missing: those may name
    /// the records it would create, which a dry run does not keep for the next entity.
    pub fn dry_run_missed_new_parents(&self) -> bool {
        self.entities.iter().any(|e| e.tally.created > 0)
            && self
                .rejected
                .iter()
                .any(|r| r.code == "REFERENCE_NOT_FOUND")
    }

    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let show_not_sent = self.entities.iter().any(|e| e.tally.not_sent > 0);
        let mut header = format!(
            "{:<10}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
            "ENTITY", "RECORDS", "CREATED", "UPDATED", "UNCHANGED", "ERRORS"
        );
        if show_not_sent {
            header.push_str(&format!("  {:>9}", "NOT SENT"));
        }
        writeln!(out, "{header}  {:>9}", "RECORDS/S")?;
        let mut total = Tally::default();
        let mut elapsed = Duration::ZERO;
        for entity in &self.entities {
            self.line(
                out,
                entity.entity.plural(),
                &entity.tally,
                entity.elapsed,
                show_not_sent,
            )?;
            total.add(&entity.tally);
            elapsed += entity.elapsed;
        }
        if self.entities.len() > 1 {
            self.line(out, "total", &total, elapsed, show_not_sent)?;
        }
        let retries = self.retries_rate_limited + self.retries_failed;
        if retries > 0 {
            writeln!(
                out,
                "\n{retries} requests retried ({} rate limited, {} failed or timed out)",
                self.retries_rate_limited, self.retries_failed
            )?;
        }
        if self.kept > 0 {
            let records = match self.kept {
                1 => "1 record".to_owned(),
                n => format!("{n} records"),
            };
            writeln!(
                out,
                "\n{records} kept a value the shop floor owns (its status) instead of the one \
                 sent; the sync history lists each (GET /api-sync/imports/{{id}}, kept_details)"
            )?;
        }
        if !self.rejected.is_empty() {
            writeln!(out, "\nRejected ({}):", self.rejected.len())?;
            for rejection in &self.rejected {
                writeln!(
                    out,
                    "{}:{}  {}  {}  {}",
                    rejection.file,
                    rejection.line,
                    rejection.external_id.as_deref().unwrap_or("-"),
                    rejection.code,
                    rejection.error
                )?;
            }
        }
        Ok(())
    }

    fn line(
        &self,
        out: &mut impl Write,
        name: &str,
        tally: &Tally,
        elapsed: Duration,
        show_not_sent: bool,
    ) -> std::io::Result<()> {
        write!(
            out,
            "{:<10}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
            name, tally.records, tally.created, tally.updated, tally.unchanged, tally.errors
        )?;
        if show_not_sent {
            write!(out, "  {:>9}", tally.not_sent)?;
        }
        writeln!(
            out,
            "  {:>9}",
            rate(tally.records - tally.not_sent, elapsed)
        )
    }

    /// The rejected records as CSV, to fix and send again.
    pub fn write_errors_csv(&self, out: impl Write) -> anyhow::Result<()> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(["file", "line", "external_id", "code", "field", "error"])?;
        for r in &self.rejected {
            writer.write_record([
                r.file.as_str(),
                &r.line.to_string(),
                r.external_id.as_deref().unwrap_or(""),
                &r.code,
                r.field.as_deref().unwrap_or(""),
                &r.error,
            ])?;
        }
        writer.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_add_up_and_lists_rejections() {
        let mut tally = Tally {
            records: 4,
            ..Tally::default()
        };
        for outcome in [
            Outcome::Created,
            Outcome::Updated,
            Outcome::Unchanged,
            Outcome::Rejected {
                code: "VALIDATION_ERROR".into(),
                field: Some("type".into()),
                error: "type: bad".into(),
            },
        ] {
            tally.count(&outcome);
        }
        assert_eq!(
            tally.created + tally.updated + tally.unchanged + tally.errors,
            tally.records
        );
        let report = Report {
            entities: vec![EntityReport {
                entity: Entity::Resources,
                tally,
                elapsed: Duration::from_millis(500),
            }],
            rejected: vec![Rejection {
                file: "resources.csv".into(),
                line: 3,
                external_id: Some("R-2".into()),
                key: None,
                code: "VALIDATION_ERROR".into(),
                field: Some("type".into()),
                error: "type: bad".into(),
            }],
            retries_rate_limited: 0,
            retries_failed: 0,
            kept: 0,
        };
        let mut out = Vec::new();
        report.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let line: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(line, ["resources", "4", "1", "1", "1", "1", "8"], "{text}");
        assert!(
            text.contains("resources.csv:3  R-2  VALIDATION_ERROR  type: bad"),
            "{text}"
        );
        assert!(!text.contains("NOT SENT"));
    }
}
