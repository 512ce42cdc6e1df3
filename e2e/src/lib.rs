//! End-to-end tests of the whole system live in `tests/`: they start the three real
//! services in-process on free ports and talk to the gateway port only.
