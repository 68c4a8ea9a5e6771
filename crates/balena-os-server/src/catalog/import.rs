//! Import from an image bucket.
