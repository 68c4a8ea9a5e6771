//! Every pine URL the official SDK sent (and curl sent to the real API).
