//! casebridge's connector: the integration logic between a support platform and
//! a Salesforce org. Built for `wasm32-wasip2` it is a WebAssembly component
//! implementing the `casebridge:connector` world in `wit/`; built natively it is
//! a plain library, so the logic is unit-tested without a runtime.

pub mod capabilities;
pub mod catalog;
pub mod convert;
pub mod crm;
pub mod cycle;
pub mod mapping;
pub mod matching;
pub mod messenger;
pub mod model;
pub mod platform;
pub mod resolution;
pub mod routing;
pub mod salesforce;
pub mod streaming;
pub mod workflow;

#[cfg(target_arch = "wasm32")]
mod component;
