using MLConv.Training.Distributed;

namespace MLConv.Tests.Distributed;

[TestClass]
public sealed class MpiLauncherTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] vars) =>
        key => vars.FirstOrDefault(v => v.Key == key).Value;

    [TestMethod]
    public void RecognisesOpenMpiPmiAndPmixLaunchers()
    {
        Assert.IsNull(MpiLauncher.Detect(Env()));
        Assert.AreEqual((1, (int?)4, "OMPI_COMM_WORLD_RANK"), MpiLauncher.Detect(Env(("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "4"))));
        Assert.AreEqual((0, (int?)2, "PMI_RANK"), MpiLauncher.Detect(Env(("PMI_RANK", "0"), ("PMI_SIZE", "2"))));
        Assert.AreEqual((3, (int?)null, "PMIX_RANK"), MpiLauncher.Detect(Env(("PMIX_RANK", "3"))));
        var e = Assert.ThrowsExactly<MpiException>(() => MpiLauncher.Detect(Env(("OMPI_COMM_WORLD_RANK", "2"), ("OMPI_COMM_WORLD_SIZE", "2"))));
        StringAssert.Contains(e.Message, "OMPI_COMM_WORLD_SIZE is '2'");
        e = Assert.ThrowsExactly<MpiException>(() => MpiLauncher.Detect(Env(("PMI_RANK", "x"))));
        StringAssert.Contains(e.Message, "PMI_RANK is 'x'");
    }

    [TestMethod]
    public void ThreadsAreSharedAmongTheRanksOfOneMachine()
    {
        Assert.IsNull(MpiLauncher.LocalSize(Env()));
        Assert.AreEqual(3, MpiLauncher.LocalSize(Env(("OMPI_COMM_WORLD_LOCAL_SIZE", "3"))));
        Assert.AreEqual(2, MpiLauncher.LocalSize(Env(("MPI_LOCALNRANKS", "2"))));
        Assert.AreEqual(Environment.ProcessorCount, DistributedContext.SuggestedThreads(Env()));
        Assert.AreEqual(1, DistributedContext.SuggestedThreads(Env(("OMPI_COMM_WORLD_LOCAL_SIZE", "100000"))));
    }

    [TestMethod]
    public void WithoutALauncherThereIsNoContextAndMpiRefusesToStart()
    {
        Assert.IsNull(DistributedContext.FromEnvironment(Env()));
        var e = Assert.ThrowsExactly<MpiException>(() => MpiCommunicator.Initialize(environment: Env()));
        StringAssert.Contains(e.Message, "not started by an MPI launcher");
        StringAssert.Contains(e.Message, "mpirun -np K");
    }

    [TestMethod]
    public void AMissingMpiLibraryIsNamedWithWhatToInstall()
    {
        var e = Assert.ThrowsExactly<MpiException>(() =>
            MpiCommunicator.Initialize("libmlconv-no-such-mpi.so.40", Env(("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "2"))));
        StringAssert.Contains(e.Message, "started by an MPI launcher (OMPI_COMM_WORLD_RANK = 0)");
        StringAssert.Contains(e.Message, "libmlconv-no-such-mpi.so.40");
        StringAssert.Contains(e.Message, "apt-get install openmpi-bin libopenmpi-dev");
        StringAssert.Contains(e.Message, "MLCONV_MPI_LIBRARY");
    }

    [TestMethod]
    public void TheSingleProcessGroupCopiesAndChecks()
    {
        var c = SingleProcessCommunicator.Instance;
        Assert.AreEqual((0, 1), (c.Rank, c.Size));
        float[] all = new float[3];
        c.AllGather([1, 2, 3], all);
        CollectionAssert.AreEqual(new float[] { 1, 2, 3 }, all);
        Assert.ThrowsExactly<ArgumentException>(() => c.AllGather([1, 2], new float[3]));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => c.Broadcast(all, 1));
        Assert.IsTrue(DistributedContext.Single.IsRoot);
    }
}
