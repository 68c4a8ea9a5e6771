//! The image endpoints: `/download`, `/download-config`,
//! `/device-types/v1…` and download sizes, over real HTTP on loopback.

mod config;
mod downloads;
mod errors;
mod js;
mod stores;
mod util;
