//! The sources' histories across a restart (chronyd's `dumpdir` and
//! `-r`): what a shell saves of each source on the way out, and restores
//! at start before selecting at once.

use super::{DisciplineError, SourceId, System};
use crate::filter::StoredSample;
use crate::source::{RestoreError, SourceHistory};
use crate::time::NtpTimestamp;

impl<const N: usize, const S: usize, const R: usize> System<N, S, R> {
    /// A source's history to save (see [`SourceHistory`]), while it has
    /// samples.
    pub fn source_history(&self, id: SourceId) -> Option<SourceHistory> {
        Some(SourceHistory {
            frequency_ppm: self.frequency_ppm(),
            ..self.source(id)?.history()?
        })
    }

    /// A source's samples, oldest first (none for an unknown source).
    pub fn source_samples(&self, id: SourceId) -> impl Iterator<Item = StoredSample> + '_ {
        self.source(id)
            .into_iter()
            .flat_map(|source| source.stats().samples())
    }

    /// Restores a source's saved history at `now` (its samples oldest
    /// first), in place of what it had, made to fit the frequency the
    /// clock runs at now; see [`Node::restore_source`] for what is
    /// refused. Nothing is selected until
    /// [`select_restored`](Self::select_restored).
    ///
    /// [`Node::restore_source`]: crate::node::Node::restore_source
    pub fn restore_source(
        &mut self,
        id: SourceId,
        history: &SourceHistory,
        samples: impl IntoIterator<Item = StoredSample>,
        now: NtpTimestamp,
    ) -> Result<(), RestoreError> {
        let frequency = self.frequency_ppm();
        let source = self
            .sources
            .get_mut(id.0)
            .and_then(Option::as_mut)
            .ok_or(RestoreError::UnknownSource)?;
        source.restore(history, samples, now, frequency)?;
        self.first_sample.get_or_insert(now);
        Ok(())
    }

    /// Selects at `now`, once the histories are restored, and updates the
    /// clock from the selection at once (as if the selected source had
    /// just taken a sample); whether the clock was updated.
    pub fn select_restored(&mut self, now: NtpTimestamp) -> Result<bool, DisciplineError> {
        let _ = self.reselect(now, None);
        match self.selected {
            Some(selected) => self.reselect(now, Some(selected)),
            None => Ok(false),
        }
    }
}
