//! Damaged files: truncated, overwritten, or not a database at all. Each
//! must give an error naming the file (at open or at the first read),
//! never a panic, never wrong data.
