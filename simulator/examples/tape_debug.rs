fn main() {
    let path = std::env::args().nth(1).unwrap();
    let bytes = std::fs::read(path).unwrap();
    let run = simulator::fuzzing::run_tape_with(&bytes, true);
    println!("{:?}", run.report.verdict);
}
