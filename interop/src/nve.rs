//! NVE processes in a namespace: gsa-dp and nvesecd started with a generated /etc/nvesec tree, stopped on drop.
