//! Why a human's move of an incident (acknowledge, resolve) was refused: no such incident, or
//! one in a state the move does not start from. The API answers 404 and 409 from these.

use crate::model::Incident;
use crate::model::IncidentState;
use crate::store::{StoreError, Transition};

/// Why a transition was refused.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    /// No such incident.
    #[error("no incident {0}")]
    NotFound(String),
    /// The incident is in a state the transition does not start from.
    #[error("incident {id} is {state}; cannot {action}")]
    Conflict {
        /// Incident id.
        id: String,
        /// Its state.
        state: &'static str,
        /// What was attempted.
        action: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TransitionError {
    /// The incident of a move of `id` to `to`, or why the move was refused.
    pub fn check(
        done: Transition,
        id: &str,
        to: IncidentState,
    ) -> Result<Incident, TransitionError> {
        match done {
            Transition::Moved(incident) => Ok(*incident),
            Transition::NotFound => Err(TransitionError::NotFound(id.to_string())),
            Transition::Refused(state) => Err(TransitionError::Conflict {
                id: id.to_string(),
                state: state.as_str(),
                action: to.as_str(),
            }),
        }
    }
}
