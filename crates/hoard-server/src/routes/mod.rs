//! The handlers, one module per group of routes. A route module uses the shared pieces
//! (`extract`, `auth`, `error`, `state`) and, where one group reads another's data, that
//! group's constants (datasets join results); never the router or the OpenAPI document.

pub(crate) mod batch;
pub(crate) mod cache;
pub(crate) mod dataset_file;
pub(crate) mod datasets;
pub(crate) mod health;
pub(crate) mod metrics;
pub(crate) mod results;
pub(crate) mod semantic;
pub(crate) mod stats;
