use ntpkit::sim::Scenario;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let s = Scenario::named(&args[1]).unwrap();
    let seed: u64 = args[2].parse().unwrap();
    let f = s.run(seed);
    println!("requests {} rms {:.1}us sync {}", f.requests, f.rms_offset_s * 1e6, f.sync_s);
    let iv: Vec<String> = f.request_times.windows(2).map(|w| format!("{:.0}", w[1]-w[0])).collect();
    println!("{}", iv.join(" "));
    // offsets every 250 s
    let v: Vec<String> = f.offsets.iter().step_by(250).map(|o| format!("{:.0}", o * 1e6)).collect();
    println!("{}", v.join(" "));
}
