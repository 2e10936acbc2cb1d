using Spectre.Console;
using Spectre.Console.Rendering;

namespace MLConv.Cli;

/// <summary>Spectre tables whose cells are plain text (class names and paths may hold '[' and ']', which markup would read).</summary>
internal static class Tables
{
    public static Table Create(params string[] headers)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (string h in headers) table.AddColumn(new TableColumn(new Text(h)));
        return table;
    }

    public static Table RightAligned(this Table table, params int[] columns)
    {
        foreach (int c in columns) table.Columns[c].RightAligned();
        return table;
    }

    public static void Row(this Table table, params string[] cells) => table.AddRow(cells.Select(c => (IRenderable)new Text(c)));
}
