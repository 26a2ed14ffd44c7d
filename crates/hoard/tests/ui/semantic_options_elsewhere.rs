#[hoard::cached(threshold = 0.9)]
fn search(query: &str) -> String {
    query.to_owned()
}

#[hoard::cached(semantic, key = query)]
fn keyed(query: &str) -> String {
    query.to_owned()
}

#[hoard::cached(semantic, filter(user))]
fn filtered(query: &str, user_id: u32) -> String {
    format!("{query}{user_id}")
}

fn main() {
    let _ = (search("x"), keyed("x"), filtered("x", 1));
}
