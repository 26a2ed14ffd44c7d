struct Connection;

#[hoard::cached]
fn load(connection: &Connection, id: u32) -> String {
    let _ = connection;
    format!("{id}")
}

fn main() {}
