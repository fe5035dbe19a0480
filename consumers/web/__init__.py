"""The mediator workbench (调解员工作台): server-rendered pages over the case store, behind
personal logins; actions go through the same service as the inbox API."""
