"""Fleet runs on schedulers people already have: AWS Batch array jobs and Kubernetes Indexed Jobs.

One shard of a matrix per machine, one machine per measurement; every child pushes its records to
a shared S3 prefix, and `collect` pulls them into one merged cost report plus what the fleet cost.

Modules, one job each:
  (`--shard auto` itself, the shard from the scheduler's environment, is harness.foundation.scheduler_env)
  spec        the fleet's inputs (matrix, instance types, shard count, results URL), validated once
  batch       AWS Batch request shapes (register_job_definition, submit_job) and their validation
  kubernetes  the Kubernetes Indexed Job manifest for one instance type
  plan        write the Batch and Kubernetes files for every instance type; read them back, validated
  submit      register, submit, terminate on rejection, and poll AWS Batch until the arrays end
  worker      what one child runs in the container: its matrix shard, then a push to S3
  collect     pull the records, write the merged cost report and the fleet's own cost
  selfcost    instance hours per instance type (from records or Batch times), priced
"""
