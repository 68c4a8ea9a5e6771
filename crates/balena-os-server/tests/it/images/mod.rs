//! The image endpoints: `/download`, `/download-config`,
//! `/device-types/v1…` and download sizes, over real HTTP on loopback.

mod downloads;
mod util;
