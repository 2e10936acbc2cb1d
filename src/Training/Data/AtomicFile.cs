namespace MLConv.Training.Data;

/// <summary>
/// Writes a file through a temp file in the same folder, flushed to disk, then renamed over the target: readers never
/// see a half-written file, and a failure leaves the old file (if any) and no temp file behind.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="content"/> (copied first) to <paramref name="path"/> atomically.</summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null, empty or white space.</exception>
    public static void Write(string path, ReadOnlySpan<byte> content)
    {
        var bytes = content.ToArray();
        Write(path, s => s.Write(bytes));
    }

    /// <summary>
    /// Throws, naming <paramref name="path"/>, when a file could not be written there: the path is a folder, its folder
    /// cannot be created, or the folder does not accept a new file (probed with a temp file that is removed at once).
    /// Callers run it before long work whose result goes to <paramref name="path"/> (a checkpoint after the first epoch).
    /// </summary>
    public static void CheckWritable(string path, string paramName, string what)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException($"{what} path is empty.", paramName);
        string full;
        try { full = Path.GetFullPath(path); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new ArgumentException($"{what} path '{path}' is not a valid path: {e.Message}", paramName, e);
        }
        if (Directory.Exists(full)) throw new ArgumentException($"{what} path '{path}' is a folder; give a file path inside it.", paramName);
        string dir = Path.GetDirectoryName(full) ?? throw new ArgumentException($"{what} path '{path}' has no folder.", paramName);
        try
        {
            Directory.CreateDirectory(dir);
            string probe = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.probe");
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{what} path '{path}' cannot be written: its folder '{dir}' does not accept a new file ({e.GetType().Name}).", paramName, e);
        }
    }

    /// <summary>Creates the folder if needed, lets <paramref name="writeContent"/> write a temp file beside <paramref name="path"/>, flushes it to disk and renames it over <paramref name="path"/>; on failure the temp file is deleted, the target is left as it was, and an I/O or access error is rethrown naming <paramref name="path"/>.</summary>
    /// <exception cref="IOException"><paramref name="path"/> is a folder, its folder cannot be created, or writing or renaming failed.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null, empty or white space.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="writeContent"/> is null.</exception>
    public static void Write(string path, Action<Stream> writeContent)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(writeContent);
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new IOException($"Cannot write '{path}': it is a folder.");
        string dir = Path.GetDirectoryName(full) ?? throw new ArgumentException($"path '{path}' has no folder.", nameof(path));
        try { Directory.CreateDirectory(dir); }
        catch (IOException e) { throw new IOException($"Cannot write '{path}': its folder '{dir}' cannot be created ({e.Message}).", e); }
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                writeContent(fs);
                fs.Flush(true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e)
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            // The user's path in the message, not only the temp file's; the exception type is kept.
            if (e is UnauthorizedAccessException) throw new UnauthorizedAccessException($"Cannot write '{path}': {e.Message}", e);
            if (e is IOException) throw new IOException($"Cannot write '{path}' (nothing was changed there): {e.Message}", e);
            throw;
        }
    }
}
