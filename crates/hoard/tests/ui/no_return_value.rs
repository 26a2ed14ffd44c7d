#[hoard::cached]
fn log(id: u32) {
    println!("{id}");
}

fn main() {}
