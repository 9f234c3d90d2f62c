// Barrel of train/: every public name of this folder is exported here.
export {};
