//! Plain-text tables: columns one space apart, each at least as wide as the fixed-width
//! layout the CLI has always printed and wider when a cell needs it, so a long model id or
//! namespace moves the columns after it instead of running into them.

use comfy_table::{presets, CellAlignment, ColumnConstraint, Table, Width};

/// Where a column's text sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text, padded on the right.
    Left,
    /// Numbers and sizes, padded on the left.
    Right,
}

/// One column: its header, the width it takes at least, and the spaces before it.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub min_width: u16,
    pub align: Align,
    /// Spaces between this column and the one before (none before the first).
    pub gap: u16,
}

impl Column {
    pub const fn left(header: &'static str, min_width: u16) -> Column {
        Column {
            header,
            min_width,
            align: Align::Left,
            gap: 1,
        }
    }

    pub const fn right(header: &'static str, min_width: u16) -> Column {
        Column {
            header,
            min_width,
            align: Align::Right,
            gap: 1,
        }
    }

    /// The same column, `gap` spaces after the one before.
    pub const fn after(mut self, gap: u16) -> Column {
        self.gap = gap;
        self
    }
}

/// Whether the first line names the columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    Shown,
    Hidden,
}

/// `rows` under `columns`, one line each (with a final newline), trailing spaces trimmed.
pub fn render(columns: &[Column], header: Header, rows: Vec<Vec<String>>) -> String {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    if header == Header::Shown {
        table.set_header(columns.iter().map(|column| column.header));
    }
    table.add_rows(rows);
    for (column, spec) in table.column_iter_mut().zip(columns) {
        // The space between columns is the left padding of every column but the first;
        // widths count it.
        let gap = if column.index == 0 { 0 } else { spec.gap };
        column.set_padding((gap, 0));
        column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(
            spec.min_width + gap,
        )));
        column.set_cell_alignment(match spec.align {
            Align::Left => CellAlignment::Left,
            Align::Right => CellAlignment::Right,
        });
    }
    let mut text = table.trim_fmt();
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [Column; 3] = [
        Column::left("id", 8),
        Column::left("store", 6),
        Column::right("size", 8),
    ];

    fn row(cells: [&str; 3]) -> Vec<String> {
        cells.iter().map(|cell| (*cell).to_owned()).collect()
    }

    #[test]
    fn short_cells_print_as_fixed_widths_would() {
        let text = render(
            &COLUMNS,
            Header::Shown,
            vec![row(["org/a", "hf", "4.9 KiB"])],
        );
        let fixed = format!(
            "{:<8} {:<6} {:>8}\n{:<8} {:<6} {:>8}\n",
            "id", "store", "size", "org/a", "hf", "4.9 KiB"
        );
        assert_eq!(text, fixed);
    }

    #[test]
    fn a_long_cell_widens_its_column_for_every_row() {
        let text = render(
            &COLUMNS,
            Header::Shown,
            vec![
                row(["org/a-much-longer-id", "hf", "1 B"]),
                row(["org/b", "torch", "10.0 GiB"]),
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        let store_at = lines[0].find("store").unwrap();
        assert_eq!(store_at, "org/a-much-longer-id ".len());
        assert_eq!(&lines[2][store_at..store_at + 5], "torch");
        assert!(lines.iter().all(|line| line.len() == lines[0].len()));
    }

    #[test]
    fn without_a_header_only_rows_print() {
        let text = render(&COLUMNS, Header::Hidden, vec![row(["total", "", ""])]);
        assert_eq!(text, "total\n");
    }
}
