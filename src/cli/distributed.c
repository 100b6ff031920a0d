/* `bn train` under mpirun: one rank of a data-parallel training (libbn_mpi). */
#include <stdlib.h>
#include "cli.h"
#ifdef BN_CLI_WITH_MPI
#include <bn/bn_mpi.h>
#endif

/* Started by mpirun? (Open MPI sets OMPI_COMM_WORLD_SIZE, PMIx launchers PMIX_RANK.) */
static int under_mpirun(void)
{
  return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMIX_RANK") != NULL;
}

int cli_dist_start(cli_dist *d, bn_mlp *m)
{
  *d = (cli_dist){0, 1, 0, NULL};
#ifdef BN_CLI_WITH_MPI
  if (!under_mpirun())
    return CLI_OK;
  if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
    return cli_error(CLI_FAIL, "MPI_Init failed");
  d->mpi = 1;
  char message[256] = "";
  bn_mpi *attachment = NULL;
  bn_status st = bn_mpi_attach(&attachment, m, MPI_COMM_WORLD, message, sizeof message);
  if (st != BN_OK)
    return cli_error(CLI_FAIL, "cannot train across processes: %s (%s)", message,
                     bn_status_string(st));
  d->attachment = attachment;
  bn_mpi_rank(attachment, &d->rank, &d->size);
#else
  (void)m;
  if (under_mpirun())
    return cli_error(CLI_FAIL, "started by mpirun, but this bn was built without MPI "
                     "(configure with -DBN_WITH_MPI=ON)");
#endif
  return CLI_OK;
}

int cli_dist_max(const cli_dist *d, int value)
{
#ifdef BN_CLI_WITH_MPI
  int most = value;
  if (d->mpi && d->size > 1 &&
      MPI_Allreduce(&value, &most, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) == MPI_SUCCESS)
    return most;
#else
  (void)d;
#endif
  return value;
}

void cli_dist_stop(cli_dist *d, int rc)
{
#ifdef BN_CLI_WITH_MPI
  if (!d->mpi)
    return;
  if (rc != CLI_OK && d->size > 1)
    MPI_Abort(MPI_COMM_WORLD, rc);
  bn_mpi_detach(d->attachment);
  MPI_Finalize();
#else
  (void)rc;
#endif
  *d = (cli_dist){0, 1, 0, NULL};
}
