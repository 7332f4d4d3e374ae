use super::*;
use crate::testing::traces;

#[test]
fn verbosity_controls_detail() {
    let batch = ExportBatch::new(traces(&[&["GET /", "SELECT"]]));
    let basic = render("debug", Verbosity::Basic, &batch);
    assert_eq!(basic, "debug: traces 2 spans in 1 resource(s)\n");
    let normal = render("debug", Verbosity::Normal, &batch);
    assert!(
        normal.contains("GET / trace_id=0102030405060708090a0b0c0d0e0f10 span_id=0102030405060708 duration=250.000ms"),
        "{normal}"
    );
    assert_eq!(normal.lines().count(), 3);
    let detailed = render("debug", Verbosity::Detailed, &batch);
    assert!(detailed.contains("\"name\": \"SELECT\""), "{detailed}");
}
