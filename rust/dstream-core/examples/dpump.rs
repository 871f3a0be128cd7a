//! `dpump [--passthrough] [--buf N] [--threads N] [--no-tables]`: pumps fd 0 to fd 1 with the dstream pump and
//! prints the counters to stderr. A local harness for measuring throughput against
//! `cat` (e.g. `gen | dpump | cat >/dev/null`); not part of the product.

use dstream_core::{Options, Pump};

fn main() {
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--passthrough" => opts.validate = false,
            "--buf" => {
                opts.read_buffer_size = args.next().and_then(|v| v.parse().ok()).expect("--buf N")
            }
            "--no-tables" => opts.count_tables = false,
            "--threads" => {
                opts.validate_threads = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--threads N")
            }
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let mut p = Pump::new(0, 1, opts, b"").expect("pump");
    let r = p.run();
    eprintln!("{:?} {:?} {:?}", r.outcome, r.message, r.counters);
}
