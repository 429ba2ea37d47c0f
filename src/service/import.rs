//! Importing records read from another system (`verdict import-resultsdb`, issue 14):
//! each record carries its own fixed uuid (`model::upstream`), so a rerun or a resumed
//! import stores only what is not here yet, as log entries like any other write.

use super::{Service, ServiceError};
use crate::log::Body;
use crate::model::{GroupRecord, ResultRecord, TestcaseRecord, WaiverRecord};
use crate::store::transaction;

/// What one import call wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Records stored now.
    pub stored: u64,
    /// Records already here (same uuid, or a testcase or group already saying the same).
    pub present: u64,
}

impl std::ops::AddAssign for Imported {
    fn add_assign(&mut self, o: Imported) {
        self.stored += o.stored;
        self.present += o.present;
    }
}

impl Service {
    /// Stores results in one transaction, skipping each whose uuid is already stored. For
    /// plain threads (it waits on the write queue).
    pub fn import_results(&self, results: Vec<ResultRecord>) -> Result<Imported, ServiceError> {
        self.append_new(results.into_iter().map(Body::Result).collect())
    }

    /// [`Service::import_results`] for waivers.
    pub fn import_waivers(&self, waivers: Vec<WaiverRecord>) -> Result<Imported, ServiceError> {
        self.append_new(waivers.into_iter().map(Body::Waiver).collect())
    }

    /// Stores testcases and groups (with their ref_url and description) that are missing
    /// here or say something else; one that already says the same writes nothing, so a
    /// rerun adds no log entries.
    pub fn import_catalog(
        &self,
        testcases: Vec<TestcaseRecord>,
        groups: Vec<GroupRecord>,
    ) -> Result<Imported, ServiceError> {
        let (bodies, present) = self.read_now(move |r| {
            let mut bodies = Vec::new();
            let mut present = 0;
            for t in testcases {
                let want = t.ref_url.clone().flatten();
                match r.testcase(&t.name)? {
                    Some(have) if have.ref_url == want => present += 1,
                    _ => bodies.push(Body::Testcase(t)),
                }
            }
            for g in groups {
                let (description, ref_url) = (g.description.clone().flatten(), g.ref_url.clone().flatten());
                match r.group(&g.uuid)? {
                    Some(have) if have.description == description && have.ref_url == ref_url => present += 1,
                    _ => bodies.push(Body::Group(g)),
                }
            }
            Ok((bodies, present))
        })?;
        let mut done = self.append_new(bodies)?;
        done.present += present;
        Ok(done)
    }

    /// Appends `bodies` in one transaction; the writer skips a result or waiver whose uuid
    /// is stored (and a testcase that exists, when the body names no ref_url).
    fn append_new(&self, bodies: Vec<Body>) -> Result<Imported, ServiceError> {
        if bodies.is_empty() {
            return Ok(Imported::default());
        }
        let done = self.inner.queue.exclusive_blocking(move |w| {
            transaction(w, |w| {
                let mut done = Imported::default();
                w.expect(&mut bodies.iter())?;
                for b in &bodies {
                    if w.append(b)? {
                        done.stored += 1;
                    } else {
                        done.present += 1;
                    }
                }
                Ok::<_, ServiceError>(done)
            })
        })??;
        Ok(done)
    }
}
