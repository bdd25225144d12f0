//! The middleware: [`GaLayer`] (the configuration and its builder), [`GaService`] (captures each
//! request) and [`ResponseFuture`] (completes the hit when the response is produced and hands it to
//! the sender). Nothing here waits on anything.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::GaLayer;
pub use service::GaService;
