//! The demo's simulated tasks, one scenario per line: where each is filed and how it moves.

/// One simulated task: where it is filed and how it moves.
pub struct DemoTask {
    /// The gateway's kind name.
    pub kind: &'static str,
    /// The object it is filed under; empty for ALM's, filed under the model.
    pub object_id: &'static str,
    /// Its id.
    pub task_id: &'static str,
    /// Seconds queued, then seconds running.
    pub(super) queued_for: f64,
    pub(super) runs_for: f64,
    /// How it ends.
    pub(super) outcome: Outcome,
}

#[derive(Clone, Copy)]
pub(super) enum Outcome {
    Succeeds,
    Fails,
}

/// The simulated tasks, one scenario per line.
pub const TASKS: &[DemoTask] = &[
    DemoTask {
        kind: "import",
        object_id: "112000000009",
        task_id: "1B1D84DDD53847BAA621810B593C3FC1",
        queued_for: 10.0,
        runs_for: 50.0,
        outcome: Outcome::Succeeds,
    },
    DemoTask {
        kind: "import",
        object_id: "112000000010",
        task_id: "2C2D84DDD53847BAA621810B593C3FC2",
        queued_for: 0.0,
        runs_for: 45.0,
        outcome: Outcome::Fails,
    },
    DemoTask {
        kind: "export",
        object_id: "116000000002",
        task_id: "BFEC582EBD4146068FE4061831C8F0F0",
        queued_for: 0.0,
        runs_for: 30.0,
        outcome: Outcome::Succeeds,
    },
    DemoTask {
        kind: "action",
        object_id: "117000000019",
        task_id: "0690AA1C761F48549C3442A02F91D962",
        queued_for: 5.0,
        runs_for: 15.0,
        outcome: Outcome::Succeeds,
    },
    DemoTask {
        kind: "process",
        object_id: "118000000007",
        task_id: "4E4E84DDD53847BAA621810B593C3FC4",
        queued_for: 0.0,
        runs_for: 90.0,
        outcome: Outcome::Succeeds,
    },
    DemoTask {
        kind: "view-read",
        object_id: "101000000014",
        task_id: "0A06B0739F0E47BB92E2326C603D86EC",
        queued_for: 5.0,
        runs_for: 55.0,
        outcome: Outcome::Succeeds,
    },
    DemoTask {
        kind: "list-read",
        object_id: "101000000001",
        task_id: "5B06B0739F0E47BB92E2326C603D86ED",
        queued_for: 0.0,
        runs_for: 120.0,
        outcome: Outcome::Succeeds,
    },
    // Earlier runs, finished before the demo starts: their failure dumps can be read at once.
    DemoTask {
        kind: "import",
        object_id: "112000000009",
        task_id: "3D3D84DDD53847BAA621810B593C3FC3",
        queued_for: 0.0,
        runs_for: FINISHED,
        outcome: Outcome::Fails,
    },
    DemoTask {
        kind: "process",
        object_id: "118000000007",
        task_id: "6E6E84DDD53847BAA621810B593C3FC6",
        queued_for: 0.0,
        runs_for: FINISHED,
        outcome: Outcome::Fails,
    },
    DemoTask {
        kind: "export",
        object_id: "116000000002",
        task_id: "7F7F582EBD4146068FE4061831C8F0F7",
        queued_for: 0.0,
        runs_for: FINISHED,
        outcome: Outcome::Succeeds,
    },
    DemoTask {
        kind: "view-read",
        object_id: "101000000014",
        task_id: "8A08B0739F0E47BB92E2326C603D86E8",
        queued_for: 0.0,
        runs_for: FINISHED,
        outcome: Outcome::Succeeds,
    },
    // ALM: a sync that runs into the workspace's size limit, and reports made before the demo.
    DemoTask {
        kind: "alm-sync",
        object_id: "",
        task_id: "9CF4A0D1C2E34F5061728394A5B6A18E",
        queued_for: 0.0,
        runs_for: 40.0,
        outcome: Outcome::Fails,
    },
    DemoTask {
        kind: "alm-comparison-report",
        object_id: "",
        task_id: "48B7A0D1C2E34F5061728394A5B6B4FC",
        queued_for: 0.0,
        runs_for: FINISHED,
        outcome: Outcome::Succeeds,
    },
    DemoTask {
        kind: "alm-summary-report",
        object_id: "",
        task_id: "5C5EA0D1C2E34F5061728394A5B6C0DE",
        queued_for: 0.0,
        runs_for: FINISHED,
        outcome: Outcome::Succeeds,
    },
];

/// The names the demo's model lists its objects under: `(collection, id, name)`.
pub const NAMED: &[(&str, &str, &str)] = &[
    ("imports", "112000000009", "Import Employees.csv"),
    ("imports", "112000000010", "Import Salaries.csv"),
    ("imports", "112000000011", "Import Departments.csv"),
    ("exports", "116000000002", "Export Headcount"),
    ("actions", "117000000019", "Delete Leavers"),
    ("processes", "118000000007", "Load Employees"),
    ("views", "101000000014", "Headcount.Summary"),
    ("lists", "101000000001", "Employees"),
];

/// How long a task "finished before the demo started" runs: no time worth seeing.
const FINISHED: f64 = 0.001;
