namespace MLConv.Plots;

/// <summary>The sans-serif family the pictures ask for, by platform (Skia falls back to its default face where it is missing).</summary>
internal static class Fonts
{
    public static string Sans => OperatingSystem.IsWindows() ? "Segoe UI" : OperatingSystem.IsMacOS() ? "Helvetica" : "DejaVu Sans";
}
