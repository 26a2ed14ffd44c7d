#[hoard::cached(skip(db))]
fn load(id: u32) -> String {
    format!("{id}")
}

fn main() {}
