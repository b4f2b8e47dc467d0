use sovra::documents::{bundled_regions, Grants, Request};
use sovra::rego::{RegoEngine, RegoMode};
#[test]
fn smoke() {
    let p = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    let text = sovra::rego::export(&p).unwrap();
    std::fs::write("/tmp/sovra.rego", &text).unwrap();
    let grants = Grants::from_json(include_str!("../docs/examples/grants.json")).unwrap();
    for mode in [RegoMode::Interpreter, RegoMode::Rvm] {
        let mut e = RegoEngine::new(&p, &bundled_regions(), &grants, mode)
            .unwrap_or_else(|e| panic!("{e}"));
        let r = Request::from_json(include_str!("../docs/examples/store-us.json")).unwrap();
        let o = e.decide(&r).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("{mode:?} {o:?}");
    }
}
