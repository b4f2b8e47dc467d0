fn main() {
    let s = sovra::policy::bundled();
    match sovra::policy::compile(&s) {
        Ok(p) => println!("{}", p.render()),
        Err(d) => eprintln!("{}", sovra::diag::render(&d, &s)),
    }
}
