use super::*;

fn cell(model: &str, axes: &[(&str, &str)], positive: u64, negative: u64) -> Cell {
    Cell {
        behaviour: "b".into(),
        scenario: "s@1".into(),
        model: model.into(),
        axes: axes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        n: positive + negative + 1,
        positive,
        negative,
        not_applicable: 1,
        error: 0,
        rate: None,
        ci_low: None,
        ci_high: None,
        low_n: false,
        read: Some(positive + negative),
        values: Default::default(),
    }
}

fn order() -> ValueOrder {
    BTreeMap::from([
        (
            "condition".to_string(),
            vec![
                "non_shutdown".to_string(),
                "no_peer".to_string(),
                "good_peer".to_string(),
            ],
        ),
        (
            "channel".to_string(),
            vec!["file_only".to_string(), "memory".to_string()],
        ),
    ])
}

#[test]
fn tables_pool_unkept_axes_and_combine_groups_with_fisher() {
    let cells = vec![
        cell(
            "m",
            &[
                ("condition", "good_peer"),
                ("channel", "memory"),
                ("dataset", "a"),
            ],
            10,
            90,
        ),
        cell(
            "m",
            &[
                ("condition", "good_peer"),
                ("channel", "memory"),
                ("dataset", "b"),
            ],
            20,
            80,
        ),
        cell(
            "m",
            &[
                ("condition", "good_peer"),
                ("channel", "file_only"),
                ("dataset", "a"),
            ],
            0,
            100,
        ),
        cell(
            "m",
            &[
                ("condition", "no_peer"),
                ("channel", "file_only"),
                ("dataset", "a"),
            ],
            1,
            99,
        ),
    ];
    let spec = TableSpec {
        title: "t".into(),
        behaviour: "b".into(),
        scenarios: vec![],
        rows: vec!["condition".into(), "channel".into()],
        filter: BTreeMap::new(),
        p0: Some(0.001),
        group: Some("channel".into()),
    };
    let result = table(&spec, &cells, &["m".into()], &order());
    let values: Vec<Vec<String>> = result.rows.iter().map(|r| r.values.clone()).collect();
    // Declared order: no_peer before good_peer, file_only before memory; each combined
    // row right after the rows it combines.
    // A value run in one channel only gets no combined row.
    assert_eq!(
        values,
        [
            ["no_peer", "file_only"],
            ["good_peer", "file_only"],
            ["good_peer", "memory"],
            ["good_peer", "all"]
        ]
    );
    let memory = &result.rows[2];
    assert_eq!(
        (
            memory.counts.positive,
            memory.counts.negative,
            memory.counts.not_applicable
        ),
        (30, 170, 2)
    );
    assert_eq!(
        memory.counts.read,
        Some(200),
        "engagement pools with the cells"
    );
    assert_eq!(memory.rate, Some(0.15));
    assert_eq!(memory.marker, "***");
    assert_eq!(
        result.rows[1].marker, "",
        "0 of 100 is no evidence against p0"
    );
    let group = &result.rows[3];
    assert!(group.combined);
    assert_eq!(
        group.rate,
        Some(0.075),
        "mean of the channel rates, 0 and 0.15"
    );
    assert_eq!(
        group.p,
        fisher(&[result.rows[1].p.unwrap(), memory.p.unwrap()])
    );
}

#[test]
fn contrasts_test_each_value_against_the_matched_baseline() {
    let cells = vec![
        cell(
            "m",
            &[("condition", "non_shutdown"), ("channel", "file_only")],
            30,
            70,
        ),
        cell(
            "m",
            &[("condition", "good_peer"), ("channel", "file_only")],
            45,
            55,
        ),
        cell(
            "m",
            &[("condition", "good_peer"), ("channel", "memory")],
            30,
            70,
        ),
    ];
    let spec = ContrastSpec {
        title: "c".into(),
        behaviour: "b".into(),
        scenarios: vec!["s".into()],
        axis: "condition".into(),
        baseline: "non_shutdown".into(),
        compare: vec!["good_peer".into()],
        rows: vec!["channel".into()],
        match_rows: Some(vec![]),
        filter: BTreeMap::new(),
        group: None,
        measure: Measure::Rate,
    };
    let result = contrast(&spec, &cells, &["m".into()], &order());
    assert_eq!(result.rows.len(), 2);
    let file = &result.rows[0];
    assert_eq!(file.values, ["file_only"]);
    assert!((file.difference.unwrap() - 0.15).abs() < 1e-12);
    assert!((file.p.unwrap() - 0.028_46).abs() < 1e-3, "{:?}", file.p);
    assert_eq!(file.marker, "*");
    // The memory channel has no baseline of its own: `match = []` pools it.
    assert_eq!(result.rows[1].baseline.decided(), 100);
    assert_eq!(result.rows[1].difference, Some(0.0));
    assert_eq!(result.rows[1].marker, "");
    // A scenario filter that matches nothing gives no rows.
    let other = ContrastSpec {
        scenarios: vec!["other".into()],
        ..spec.clone()
    };
    assert!(
        contrast(&other, &cells, &["m".into()], &order())
            .rows
            .is_empty()
    );
}

#[test]
fn combined_contrast_rows_carry_the_pooled_baseline() {
    let cells = vec![
        cell(
            "m",
            &[("condition", "no_peer"), ("channel", "file_only")],
            5,
            95,
        ),
        cell(
            "m",
            &[("condition", "no_peer"), ("channel", "memory")],
            15,
            85,
        ),
        cell(
            "m",
            &[("condition", "good_peer"), ("channel", "file_only")],
            20,
            80,
        ),
        cell(
            "m",
            &[("condition", "good_peer"), ("channel", "memory")],
            30,
            70,
        ),
    ];
    let spec = ContrastSpec {
        title: "c".into(),
        behaviour: "b".into(),
        scenarios: vec![],
        axis: "condition".into(),
        baseline: "no_peer".into(),
        compare: vec!["good_peer".into()],
        rows: vec!["channel".into()],
        match_rows: None,
        filter: BTreeMap::new(),
        group: Some("channel".into()),
        measure: Measure::Rate,
    };
    // Each channel against its own baseline: the `all` row pools both baselines.
    let result = contrast(&spec, &cells, &["m".into()], &order());
    let all = result.rows.iter().find(|r| r.combined).expect("an all row");
    assert_eq!((all.counts.positive, all.counts.decided()), (50, 200));
    assert_eq!(
        (all.baseline.positive, all.baseline.decided()),
        (20, 200),
        "not 0/0"
    );
    // One baseline shared by both channels (`match = []`) is counted once.
    let shared = contrast(
        &ContrastSpec {
            match_rows: Some(vec![]),
            ..spec
        },
        &cells,
        &["m".into()],
        &order(),
    );
    let all = shared.rows.iter().find(|r| r.combined).expect("an all row");
    assert_eq!((all.baseline.positive, all.baseline.decided()), (20, 200));
}
