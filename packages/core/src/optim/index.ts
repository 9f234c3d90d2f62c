// Barrel of optim/: every public name of this folder is exported here.
export {};
