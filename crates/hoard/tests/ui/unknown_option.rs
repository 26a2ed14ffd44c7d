#[hoard::cached(time_to_live = "1h")]
fn load(id: u32) -> String {
    format!("{id}")
}

fn main() {}
