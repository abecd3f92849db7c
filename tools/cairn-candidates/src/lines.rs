//! The JSON-lines mode: one request per line on standard input, one answer per line
//! on standard output, in order, until the input ends.

use std::io::{BufRead, BufWriter, Write};

use anyhow::{Context, Result};

use crate::behaviour::{Behaviour, Responder};
use crate::model::Version;

/// Answer requests from stdin until it closes.
pub fn run(version: Version, noisy: bool, behaviour: &Behaviour) -> Result<()> {
    let responder = Responder::new(version, noisy, behaviour.clone())?;
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.lines() {
        let line = line.context("reading standard input")?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = responder.answer(line.as_bytes());
        if !reply.delay.is_zero() {
            std::thread::sleep(reply.delay);
        }
        serde_json::to_writer(&mut out, &reply.body)?;
        out.write_all(b"\n")?;
        out.flush().context("writing standard output")?;
    }
    Ok(())
}
