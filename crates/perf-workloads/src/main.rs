//! `perf-workload <name> [iterations]`: runs one fixed workload (see the library) and prints its
//! checksum; `perf-workload list` names them. Built in release and run under callgrind by
//! `scripts/perf-guard`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("list") => {
            for workload in &perf_workloads::WORKLOADS {
                println!(
                    "{}\t{}\t{}",
                    workload.name, workload.iterations, workload.what
                );
            }
            ExitCode::SUCCESS
        }
        Some(name) => {
            let Some(workload) = perf_workloads::find(name) else {
                eprintln!("perf-workload: no workload {name:?}; `perf-workload list` names them");
                return ExitCode::from(2);
            };
            let iterations = match args.get(1).map(|n| n.parse::<u64>()) {
                None => workload.iterations,
                Some(Ok(n)) if n > 0 => n,
                Some(_) => {
                    eprintln!("perf-workload: iterations must be a positive whole number");
                    return ExitCode::from(2);
                }
            };
            println!("{} {}", workload.name, (workload.run)(iterations));
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("usage: perf-workload <name> [iterations] | perf-workload list");
            ExitCode::from(2)
        }
    }
}
