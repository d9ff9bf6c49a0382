//! Integration tests of the agent view: behaviour, random inputs and
//! chunkings against an oracle, and the captured-output corpus.

mod behaviour;
mod check;
mod corpus;
mod properties;
